package client

import (
	"context"
	"fmt"
	"net/http"
)

// AuditPage is one page of the audit log. Next is the After of the next
// page, empty on the last one.
type AuditPage struct {
	Records []AuditRecord `json:"audit"`
	Next    string        `json:"next,omitempty"`
}

// AuditPage returns the page of audit records f selects, oldest first,
// with the id to continue after.
func (c *Client) AuditPage(ctx context.Context, f AuditFilter) (AuditPage, error) {
	var out AuditPage
	if err := c.do(ctx, http.MethodGet, "/v1/audit", pageQuery(f.Workspace, f.After, f.Limit), nil, &out); err != nil {
		return AuditPage{}, err
	}
	if out.Records == nil {
		return AuditPage{}, fmt.Errorf("client: decoding audit records: no \"audit\" list")
	}
	return out, nil
}

// AuditVerification is the outcome of checking the audit log's hash
// chain (GET /v1/audit/verify). When OK is false, FirstBad is the id of
// the first changed, misplaced or unlinked record and Reason says which.
type AuditVerification struct {
	OK       bool   `json:"ok"`
	Entries  int64  `json:"entries"`
	FirstBad string `json:"first_bad,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// VerifyAudit asks the server to check the whole audit log's hash chain
// (admin only). A broken chain is a result with OK false, not an error.
func (c *Client) VerifyAudit(ctx context.Context) (AuditVerification, error) {
	var out AuditVerification
	if err := c.do(ctx, http.MethodGet, "/v1/audit/verify", nil, nil, &out); err != nil {
		return AuditVerification{}, err
	}
	return out, nil
}
