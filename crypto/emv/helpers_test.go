package emv

import (
	"testing"

	"posd/crypto/mac"
	"posd/internal/testhex"
)

// h decodes test hex (spaces allowed).
func h(t testing.TB, s string) []byte { t.Helper(); return testhex.Bytes(t, s) }

// checkDigits returns the first n bytes of the key check value
// E(key, 00..00) in upper-case hex: pyemv's "check digits" are n = 2.
func checkDigits(t testing.TB, key []byte, n int) string {
	t.Helper()
	kcv, err := mac.KCV("tdes", key)
	if err != nil {
		t.Fatal(err)
	}
	return testhex.Upper(kcv[:n])
}
