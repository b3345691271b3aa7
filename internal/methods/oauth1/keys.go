package oauth1

import (
	"crypto/rsa"
	"errors"
	"regexp"
	"strings"

	"github.com/stormcreds/storm/internal/methods/serviceaccount"
)

// ParsePrivateKey reads the RSA private key of an RSA-SHA1 client: one
// PEM block, PKCS #1 or PKCS #8, unencrypted, 2048 to 8192 bits (the
// strict reader of serviceaccount.PrivateKey). Errors never contain key
// material.
func ParsePrivateKey(pemText string) (*rsa.PrivateKey, error) {
	k, err := serviceaccount.PrivateKey(pemText)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("RSA-SHA1 needs an RSA private key")
	}
	return rk, nil
}

var netSuiteAccount = regexp.MustCompile(`^[A-Za-z0-9]+([_-][A-Za-z0-9]+)*$`)

// NetSuiteRealm is the realm NetSuite token-based authentication expects
// for an account id: upper case, with "_" for "-" ("1234567-sb1" →
// "1234567_SB1"). ok is false for text that is not an account id.
// NetSuite signs with HMAC-SHA256 and issues the token id and secret out
// of band: a Signer with that Config and those Credentials is all it
// takes.
func NetSuiteRealm(accountID string) (realm string, ok bool) {
	accountID = strings.TrimSpace(accountID)
	if len(accountID) > 64 || !netSuiteAccount.MatchString(accountID) {
		return "", false
	}
	return strings.ToUpper(strings.ReplaceAll(accountID, "-", "_")), true
}
