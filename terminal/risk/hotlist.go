package risk

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// The hotlist file, as the acquirer's parameter system delivers it: one
// JSON object.
//
//	{
//	  "schema": 1,
//	  "version": 42,
//	  "alg": "hmac-sha256",
//	  "kcv": "1f2e3d4c",
//	  "hashes": ["64 hex digits", ...]
//	}
//
// schema is the file format (HotlistSchema); version numbers the lists of
// one terminal, and a terminal only ever moves to a newer one (it refuses
// an older list, so a replayed file cannot take cards off it). Every hash
// is the HMAC-SHA-256 of a PAN's digits under this terminal's hash key:
// the file is built per terminal (BuildHotlist) and never holds a PAN.
// kcv is the key check value of that key (Hasher.KCV): a file built with
// another key is refused, since none of its entries could ever match.
// Hashes may be in either case and in any order; duplicates count once.
const (
	HotlistSchema = 1
	HotlistAlg    = "hmac-sha256"
	// MaxHotlistEntries bounds a file (about 80 bytes of memory each).
	MaxHotlistEntries = 1 << 20
	// maxHotlistFile bounds the file size before it is decoded: 64 hex
	// digits, quotes, a comma and some white space per entry.
	maxHotlistFile = MaxHotlistEntries*72 + 4096
)

type hotlistFile struct {
	Schema  int      `json:"schema"`
	Version uint64   `json:"version"`
	Alg     string   `json:"alg"`
	KCV     string   `json:"kcv"`
	Hashes  []string `json:"hashes"`
}

// Hotlist is a version of the set of blocked cards. It does not change
// once made; the engine replaces it whole.
type Hotlist struct {
	version uint64
	kcv     string
	set     map[CardID]struct{}
}

// Version numbers the list (1 or more).
func (h *Hotlist) Version() uint64 { return h.version }

// Len is the number of distinct cards on the list.
func (h *Hotlist) Len() int { return len(h.set) }

// KCV is the check value of the hash key the list was built with.
func (h *Hotlist) KCV() string { return h.kcv }

// Contains reports whether card is on the list: one map lookup, whatever
// the size of the list.
func (h *Hotlist) Contains(card CardID) bool {
	if h == nil {
		return false
	}
	_, ok := h.set[card]
	return ok
}

// same reports whether h and o hold the same cards.
func (h *Hotlist) same(o *Hotlist) bool {
	if len(h.set) != len(o.set) || h.kcv != o.kcv {
		return false
	}
	for c := range h.set {
		if _, ok := o.set[c]; !ok {
			return false
		}
	}
	return true
}

// sorted returns the cards in byte order.
func (h *Hotlist) sorted() []CardID {
	out := make([]CardID, 0, len(h.set))
	for c := range h.set {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b CardID) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// ParseHotlist reads a hotlist file. Errors match ErrHotlist and name what
// is wrong (never a hash). It does not check the key: the engine does
// (ErrHotlistKey).
func ParseHotlist(b []byte) (*Hotlist, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrHotlist, fmt.Sprintf(format, a...))
	}
	if len(b) > maxHotlistFile {
		return nil, bad("%d bytes, more than %d entries could need", len(b), MaxHotlistEntries)
	}
	var f hotlistFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, bad("%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, bad("trailing data after the JSON object")
	}
	switch {
	case f.Schema != HotlistSchema:
		return nil, bad("schema %d, this build reads %d", f.Schema, HotlistSchema)
	case f.Version == 0:
		return nil, bad("version must be 1 or more")
	case f.Alg != HotlistAlg:
		return nil, bad("alg %q, want %q", f.Alg, HotlistAlg)
	case len(f.KCV) != 8 || !isHex(f.KCV):
		return nil, bad("kcv must be 8 hex digits")
	case f.Hashes == nil:
		return nil, bad("no hashes array (an empty list is [])")
	case len(f.Hashes) > MaxHotlistEntries:
		return nil, bad("%d entries, at most %d", len(f.Hashes), MaxHotlistEntries)
	}
	h := &Hotlist{version: f.Version, kcv: strings.ToLower(f.KCV), set: make(map[CardID]struct{}, len(f.Hashes))}
	for i, s := range f.Hashes {
		var c CardID
		if len(s) != 2*len(c) {
			return nil, bad("hash %d is %d characters, want %d hex digits", i, len(s), 2*len(c))
		}
		if _, err := hex.Decode(c[:], []byte(s)); err != nil {
			return nil, bad("hash %d is not hex", i)
		}
		h.set[c] = struct{}{}
	}
	return h, nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// Encode writes h as a hotlist file, hashes in lowercase and sorted.
func (h *Hotlist) Encode() []byte {
	f := hotlistFile{Schema: HotlistSchema, Version: h.version, Alg: HotlistAlg, KCV: h.kcv, Hashes: []string{}}
	for _, c := range h.sorted() {
		f.Hashes = append(f.Hashes, hex.EncodeToString(c[:]))
	}
	b, _ := json.Marshal(f) // strings and numbers only: cannot fail
	return b
}

// BuildHotlist is the acquirer's tool (and the tests'): the hotlist file
// of version for the terminal whose hash key is key, blocking pans. It
// keeps nothing of the PANs but their keyed hashes; wiping pans is the
// caller's job. An invalid PAN is named by its position, never its digits.
func BuildHotlist(key []byte, version uint64, pans [][]byte) ([]byte, error) {
	hs, err := NewHasher(key)
	if err != nil {
		return nil, err
	}
	if version == 0 {
		return nil, fmt.Errorf("%w: version must be 1 or more", ErrHotlist)
	}
	if len(pans) > MaxHotlistEntries {
		return nil, fmt.Errorf("%w: %d entries, at most %d", ErrHotlist, len(pans), MaxHotlistEntries)
	}
	h := &Hotlist{version: version, kcv: hs.KCV(), set: make(map[CardID]struct{}, len(pans))}
	for i, p := range pans {
		c, err := hs.Card(p)
		if err != nil {
			return nil, fmt.Errorf("PAN %d: %w", i, err)
		}
		h.set[c] = struct{}{}
	}
	return h.Encode(), nil
}

// The hotlist as the engine keeps it in bbolt: "RHL1", the version (8
// bytes, big endian), the KCV (4 bytes), then the hashes, sorted.
var blobMagic = []byte("RHL1")

const blobHeader = 4 + 8 + 4

func (h *Hotlist) blob() []byte {
	kcv, _ := hex.DecodeString(h.kcv) // validated when parsed
	b := make([]byte, 0, blobHeader+len(h.set)*len(CardID{}))
	b = append(b, blobMagic...)
	b = binary.BigEndian.AppendUint64(b, h.version)
	b = append(b, kcv...)
	for _, c := range h.sorted() {
		b = append(b, c[:]...)
	}
	return b
}

func hotlistFromBlob(b []byte) (*Hotlist, error) {
	if len(b) < blobHeader || !bytes.Equal(b[:4], blobMagic) || (len(b)-blobHeader)%len(CardID{}) != 0 {
		return nil, fmt.Errorf("%w: stored hotlist of %d bytes", ErrDamaged, len(b))
	}
	h := &Hotlist{
		version: binary.BigEndian.Uint64(b[4:12]),
		kcv:     hex.EncodeToString(b[12:16]),
		set:     make(map[CardID]struct{}, (len(b)-blobHeader)/len(CardID{})),
	}
	for p := b[blobHeader:]; len(p) > 0; p = p[len(CardID{}):] {
		h.set[CardID(p[:len(CardID{})])] = struct{}{}
	}
	return h, nil
}
