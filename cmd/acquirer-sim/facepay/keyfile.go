package facepay

import (
	"crypto/ecdh"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"posd/crypto/faceseal"
)

// LoadOrCreateKey reads the platform's X25519 private key from path (PEM
// PKCS #8) or, when path does not exist, generates one and writes it
// there with mode 0600 (created reports it). An empty path gives a new
// key kept in memory only. A key file others can read is refused.
func LoadOrCreateKey(path string) (key *ecdh.PrivateKey, created bool, err error) {
	if path == "" {
		k, err := faceseal.GenerateKey()
		return k, true, err
	}
	st, err := os.Stat(path)
	switch {
	case err == nil:
		if st.Mode().Perm()&0o077 != 0 {
			return nil, false, fmt.Errorf("%s: mode %v, want 0600 (no access for group or others)", path, st.Mode().Perm())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, false, err
		}
		defer clear(b)
		k, err := faceseal.ParsePrivateKey(b)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return k, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, err
	}
	k, err := faceseal.GenerateKey()
	if err != nil {
		return nil, false, err
	}
	pem, err := faceseal.MarshalPrivateKey(k)
	if err != nil {
		return nil, false, err
	}
	defer clear(pem)
	// O_EXCL: never overwrite a key another process wrote meanwhile.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, false, err
	}
	if _, err := f.Write(pem); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, false, err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, false, err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return nil, false, err
	}
	return k, true, nil
}
