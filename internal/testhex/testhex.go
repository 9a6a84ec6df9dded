// Package testhex is the tests' one hex helper: test vectors and byte
// traces are written in hex, with spaces and line breaks for readability.
package testhex

import (
	"encoding/hex"
	"strings"
	"testing"
)

func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r':
			return -1
		}
		return r
	}, s)
}

// Bytes decodes s, ignoring spaces and line breaks, and fails t on bad hex.
func Bytes(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(clean(s))
	if err != nil {
		t.Fatalf("bad hex in test data %q: %v", s, err)
	}
	return b
}

// Must decodes s like Bytes, panicking on bad hex: for tables and fuzz
// seeds built outside a test function.
func Must(s string) []byte {
	b, err := hex.DecodeString(clean(s))
	if err != nil {
		panic("bad hex in test data: " + err.Error())
	}
	return b
}

// Upper encodes b in upper-case hex, the way the standards print vectors.
func Upper(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }
