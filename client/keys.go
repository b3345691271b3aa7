package client

import (
	"context"
	"net/http"
	"time"
)

// Re-wrap job states (KeyStatus.Rewrap.State).
const (
	RewrapIdle    = "idle"
	RewrapRunning = "running"
	RewrapDone    = "done"
)

// KeyStatus is the server's data-key keyring and its re-wrap job
// (GET /v1/keys). It holds no key material.
type KeyStatus struct {
	ActiveTerm uint32    `json:"active_term"`
	Terms      []KeyTerm `json:"terms"`
	Rewrap     RewrapJob `json:"rewrap"`
}

// KeyTerm is one data-key term.
type KeyTerm struct {
	Term      uint32    `json:"term"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	// Encryptions is the cluster-wide count reserved under the term, an
	// upper bound of the encryptions made with it.
	Encryptions int64 `json:"encryptions"`
	Active      bool  `json:"active"`
}

// RewrapJob is the job that re-seals every stored ciphertext under the
// active term after a rotation.
type RewrapJob struct {
	State      string `json:"state"` // RewrapIdle, RewrapRunning or RewrapDone
	TargetTerm uint32 `json:"target_term,omitempty"`
	// Phase is "credentials", "integrations", "settling" (waiting for
	// every instance to load the new key before the last sweep) or "done".
	Phase string `json:"phase,omitempty"`
	Pass  int    `json:"pass,omitempty"`
	// Done counts the rows the first pass visited, of Total.
	Done       int64     `json:"done"`
	Total      int64     `json:"total"`
	Rewrapped  int64     `json:"rewrapped"`
	Skipped    int64     `json:"skipped"`
	Failed     int64     `json:"failed"`
	Swept      int64     `json:"swept"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	UpdatedAt  time.Time `json:"updated_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Keys reports the data-key terms and the re-wrap job (admin only).
func (c *Client) Keys(ctx context.Context) (*KeyStatus, error) {
	var out KeyStatus
	if err := c.do(ctx, http.MethodGet, "/v1/keys", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RotateKeys adds a new data-key term and starts the re-wrap job (admin
// only); it returns at once, with the job running. Poll Keys for its
// progress.
func (c *Client) RotateKeys(ctx context.Context) (*KeyStatus, error) {
	var out KeyStatus
	if err := c.do(ctx, http.MethodPost, "/v1/keys/rotate", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
