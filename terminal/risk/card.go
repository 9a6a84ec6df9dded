package risk

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"sync"
)

// MinHashKeyLen is the shortest hash key accepted; 32 random bytes are
// recommended.
const MinHashKeyLen = 16

// CardID identifies a card without being its number: the HMAC-SHA-256 of
// the PAN's digits under the terminal's secret hash key. Only a holder of
// the key can test a PAN against it, so it may be stored (velocity) and
// shipped (hotlist files, built per terminal by the acquirer). It still
// links transactions of one card, so it is never printed: String, Format
// and LogValue show a placeholder.
type CardID [sha256.Size]byte

// IsZero reports whether c is the zero CardID (no card).
func (c CardID) IsZero() bool { return c == CardID{} }

// String implements fmt.Stringer without revealing c.
func (c CardID) String() string { return "[card id]" }

// Format implements fmt.Formatter: every verb prints the placeholder.
func (c CardID) Format(f fmt.State, _ rune) { io.WriteString(f, c.String()) }

// LogValue implements slog.LogValuer: logs show the placeholder.
func (c CardID) LogValue() slog.Value { return slog.StringValue(c.String()) }

// kcvLabel is what the key check value is the HMAC of. It is not digits,
// so no PAN hashes to the KCV's input.
const kcvLabel = "posd risk: hash key check value"

// Hasher computes CardIDs under one hash key. It is safe for concurrent
// use.
type Hasher struct {
	pool sync.Pool
	kcv  string
}

// NewHasher returns a hasher for key (at least MinHashKeyLen bytes). The
// key is copied; the caller may wipe its slice.
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < MinHashKeyLen {
		return nil, fmt.Errorf("%w: %d bytes, need at least %d", ErrHashKey, len(key), MinHashKeyLen)
	}
	k := append([]byte(nil), key...)
	h := &Hasher{}
	h.pool.New = func() any { return hmac.New(sha256.New, k) }
	m := h.get()
	m.Write([]byte(kcvLabel))
	h.kcv = hex.EncodeToString(m.Sum(nil)[:4])
	h.put(m)
	return h, nil
}

func (h *Hasher) get() hash.Hash { return h.pool.Get().(hash.Hash) }

// put resets m before pooling it: the reset overwrites the buffered input
// (the PAN's digits) with the keyed initial state.
func (h *Hasher) put(m hash.Hash) {
	m.Reset()
	h.pool.Put(m)
}

// KCV is the key check value: the first 4 bytes (hex) of the HMAC of a
// fixed label. Hotlist files carry it, so a file built with another key is
// refused instead of silently matching nothing.
func (h *Hasher) KCV() string { return h.kcv }

// Card returns the CardID of pan, 12 to 19 ASCII digits. It reads pan and
// keeps nothing of it; wiping pan afterwards is the caller's job. An error
// never contains the digits.
func (h *Hasher) Card(pan []byte) (CardID, error) {
	var id CardID
	if !validPAN(pan) {
		return id, fmt.Errorf("%w: %d characters, want 12 to 19 digits", ErrPAN, len(pan))
	}
	m := h.get()
	m.Write(pan)
	m.Sum(id[:0])
	h.put(m)
	return id, nil
}

func validPAN(pan []byte) bool {
	if len(pan) < 12 || len(pan) > 19 {
		return false
	}
	for _, c := range pan {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
