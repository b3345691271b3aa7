package tokens

import (
	"encoding/json"
	"errors"

	"github.com/stormcreds/storm/internal/oauth"
)

// Material is a credential version's decrypted material: a JSON object
// with one member per part ("token" for the current token set,
// "service_account" for a key, …). The engine reads and replaces only
// "token" and keeps every other member as it was.
type Material map[string]json.RawMessage

// TokenMember is the member holding the token set.
const TokenMember = "token"

func decodeMaterial(b []byte) (Material, error) {
	var m Material
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, errors.New("tokens: stored material is malformed")
	}
	return m, nil
}

func (m Material) encode() ([]byte, error) { return json.Marshal(m) }

// Tokens returns the current token set; an empty one (which is never
// fresh) when none was obtained yet.
func (m Material) Tokens() (oauth.TokenSet, error) {
	raw, ok := m[TokenMember]
	if !ok {
		return oauth.TokenSet{}, nil
	}
	return oauth.DecodeTokenSet(raw)
}

// SetTokens replaces the token set.
func (m Material) SetTokens(ts oauth.TokenSet) error {
	m[TokenMember] = ts.Encode()
	return nil
}

// String redacts.
func (m Material) String() string { return "tokens.Material([redacted])" }
