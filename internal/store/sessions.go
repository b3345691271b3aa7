package store

import "time"

// UISession is a signed-in web UI session. The browser holds its id
// inside a sealed cookie; the row is what makes it valid, so deleting it
// (sign-out) ends the session on every instance at once, whatever copy
// of the cookie survives.
type UISession struct {
	ID        string // random, 128 bits or more
	TokenID   string // the API token it acts as
	CreatedAt time.Time
	ExpiresAt time.Time
}

// UISessionColumns are the columns backends select for a UISession, in
// the order Scanner.UISession reads them.
const UISessionColumns = `id, token_id, created_at, expires_at`

// UISession reads a row of UISessionColumns.
func (s Scanner) UISession(r Row) (UISession, error) {
	var u UISession
	err := r.Scan(&u.ID, &u.TokenID, s.Time(&u.CreatedAt), s.Time(&u.ExpiresAt))
	return u, err
}
