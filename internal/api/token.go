package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"posd/terminal/durable"
)

// TokenFile is the name, in the data directory, of the file that gives
// posctl the API's address and its per-boot token. Mode 0600: only the
// user posd runs as (and root) can read it.
const TokenFile = "api-token.json"

// newToken makes the per-boot API token: 32 random bytes in hex.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("api token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func writeToken(path, api, token string) error {
	raw, err := json.Marshal(struct {
		API   string `json:"api"`
		Token string `json:"token"`
	}{api, token})
	if err != nil {
		return err
	}
	if err := durable.WriteFile(path, append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("api token: %w", err)
	}
	return nil
}
