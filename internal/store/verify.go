package store

import "time"

// DueVerification is an integration whose scheduled verification is due
// (ListDueVerifications) and when it became due: the zero time for one
// whose turn was never scheduled (a new integration).
type DueVerification struct {
	Integration  Integration
	NextVerifyAt time.Time
}

// VerifyCursor continues ListDueVerifications after the due verification
// it names; the zero value starts from the first.
type VerifyCursor struct {
	At time.Time
	ID string
}

// Cursor returns the cursor that continues after d.
func (d DueVerification) Cursor() VerifyCursor {
	return VerifyCursor{At: d.NextVerifyAt, ID: d.Integration.ID}
}

// VerifyTurn is one move of ScheduleVerifications: integration ID's next
// verification to Next, if it is due at Now.
type VerifyTurn struct {
	ID        string
	Next, Now time.Time
}
