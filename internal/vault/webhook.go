package vault

import "github.com/stormcreds/storm/internal/store"

// WebhookAD is where a webhook's signing secret is bound: its workspace
// and id. A re-wrap job opens and reseals webhooks.secret with it.
func WebhookAD(w store.Webhook) AD {
	return AD{Workspace: w.WorkspaceID, Credential: w.ID, Field: "webhook_secret"}
}
