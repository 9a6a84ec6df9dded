package emv

import (
	"bytes"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// HashSHA1 and PKAlgRSA are the only hash algorithm indicator and public
// key algorithm indicator EMV book 2 defines (annex B2.3 and B2.4).
const (
	HashSHA1 = 0x01
	PKAlgRSA = 0x01
)

// CAPK is a certification authority public key as the acquirer provisions
// it: registered application provider identifier, CA public key index,
// modulus and exponent, hash algorithm, checksum and expiry.
type CAPK struct {
	RID   [5]byte
	Index byte
	PublicKey
	// HashAlgorithm is the CA hash algorithm indicator; 0 is read as 01
	// (SHA-1).
	HashAlgorithm byte
	// Checksum is the 20-byte SHA-1 of RID || index || modulus || exponent
	// published with the key (book 2 section 11.2.2).
	Checksum []byte
	// Expiry is the last day the key may be used; the zero time means the
	// provider gave none.
	Expiry time.Time
}

// ComputeChecksum returns SHA-1(RID || index || modulus || exponent).
func (k *CAPK) ComputeChecksum() []byte {
	h := sha1.New()
	h.Write(k.RID[:])
	h.Write([]byte{k.Index})
	h.Write(k.Modulus)
	h.Write(k.Exponent)
	return h.Sum(nil)
}

// Validate checks the key: usable modulus and exponent (ErrPublicKey),
// SHA-1 hash algorithm (ErrAlgorithm), and a checksum present and equal
// to ComputeChecksum (ErrCAPK).
func (k *CAPK) Validate() error {
	if err := k.PublicKey.Check(); err != nil {
		return fmt.Errorf("CAPK %s: %w", k.name(), err)
	}
	if k.HashAlgorithm != 0 && k.HashAlgorithm != HashSHA1 {
		return fmt.Errorf("%w: CAPK %s: hash algorithm %02X", ErrAlgorithm, k.name(), k.HashAlgorithm)
	}
	if len(k.Checksum) != sha1.Size {
		return fmt.Errorf("%w: CAPK %s: checksum is %d bytes, want 20", ErrCAPK, k.name(), len(k.Checksum))
	}
	if subtle.ConstantTimeCompare(k.ComputeChecksum(), k.Checksum) != 1 {
		return fmt.Errorf("%w: CAPK %s: checksum mismatch", ErrCAPK, k.name())
	}
	return nil
}

// Expired reports whether the key has an expiry date and day is after it
// (both compared as calendar dates in their own locations).
func (k *CAPK) Expired(day time.Time) bool {
	if k.Expiry.IsZero() {
		return false
	}
	ey, em, ed := k.Expiry.Date()
	dy, dm, dd := day.Date()
	return dy*10000+int(dm)*100+dd > ey*10000+int(em)*100+ed
}

func (k *CAPK) name() string { return fmt.Sprintf("%X/%02X", k.RID[:], k.Index) }

// clone returns a deep copy.
func (k *CAPK) clone() *CAPK {
	c := *k
	c.Modulus = bytes.Clone(k.Modulus)
	c.Exponent = bytes.Clone(k.Exponent)
	c.Checksum = bytes.Clone(k.Checksum)
	return &c
}

type capkID struct {
	rid   [5]byte
	index byte
}

// CAPKStore holds CA public keys by RID and index. Its methods are safe
// for concurrent use.
type CAPKStore struct {
	mu   sync.RWMutex
	keys map[capkID]*CAPK
}

// NewCAPKStore returns an empty store.
func NewCAPKStore() *CAPKStore { return &CAPKStore{keys: map[capkID]*CAPK{}} }

// Add validates k (see CAPK.Validate) and stores a copy, replacing any key
// with the same RID and index.
func (s *CAPKStore) Add(k CAPK) error {
	if err := k.Validate(); err != nil {
		return err
	}
	c := k.clone()
	if c.HashAlgorithm == 0 {
		c.HashAlgorithm = HashSHA1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = map[capkID]*CAPK{}
	}
	s.keys[capkID{k.RID, k.Index}] = c
	return nil
}

// Lookup returns a copy of the key with that RID (5 bytes, tag 4F's first
// five) and index (tag 8F), or ErrCAPKNotFound.
func (s *CAPKStore) Lookup(rid []byte, index byte) (*CAPK, error) {
	if len(rid) != 5 {
		return nil, fmt.Errorf("%w: RID is %d bytes, want 5", ErrCAPKNotFound, len(rid))
	}
	var id capkID
	copy(id.rid[:], rid)
	id.index = index
	s.mu.RLock()
	k, ok := s.keys[id]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %X/%02X", ErrCAPKNotFound, rid, index)
	}
	return k.clone(), nil
}

// Len returns the number of keys stored.
func (s *CAPKStore) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.keys)
}

// All returns copies of every key, ordered by RID then index.
func (s *CAPKStore) All() []CAPK {
	s.mu.RLock()
	out := make([]CAPK, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, *k.clone())
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if c := bytes.Compare(out[i].RID[:], out[j].RID[:]); c != 0 {
			return c < 0
		}
		return out[i].Index < out[j].Index
	})
	return out
}

// LoadJSON parses a CA public key file (see ParseCAPKFile) and adds every
// key; nothing is added when any key is invalid.
func (s *CAPKStore) LoadJSON(data []byte) error {
	keys, err := ParseCAPKFile(data)
	if err != nil {
		return err
	}
	for i := range keys {
		if err := keys[i].Validate(); err != nil {
			return err
		}
	}
	for _, k := range keys {
		if err := s.Add(k); err != nil {
			return err
		}
	}
	return nil
}

// capkFile is the JSON shape of the CA public key parameter file:
//
//	{"capks": [{"rid": "A000000003", "index": "94", "modulus": "ACD2...",
//	  "exponent": "03", "hash_algorithm": "01", "checksum": "C4A3...",
//	  "expiry": "2029-12-31", "source": "where the key was published"}]}
//
// Hex is case-insensitive; hash_algorithm and expiry are optional; source
// is a free comment.
type capkFile struct {
	CAPKs []capkJSON `json:"capks"`
}

type capkJSON struct {
	RID           string `json:"rid"`
	Index         string `json:"index"`
	Modulus       string `json:"modulus"`
	Exponent      string `json:"exponent"`
	HashAlgorithm string `json:"hash_algorithm,omitempty"`
	Checksum      string `json:"checksum"`
	Expiry        string `json:"expiry,omitempty"`
	Source        string `json:"source,omitempty"`
}

// ParseCAPKFile reads a CA public key parameter file: a JSON object whose
// "capks" array holds one object per key with the hex fields rid (5
// bytes), index (1 byte), modulus, exponent, checksum (20 bytes) and the
// optional hash_algorithm (1 byte, default 01), expiry (YYYY-MM-DD) and
// source (a comment). Unknown fields and duplicate RID/index pairs are
// ErrCAPKFile. The keys are returned as read, not yet validated; Add or
// LoadJSON validates them.
func ParseCAPKFile(data []byte) ([]CAPK, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f capkFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCAPKFile, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrCAPKFile)
	}
	seen := map[capkID]bool{}
	out := make([]CAPK, 0, len(f.CAPKs))
	for i, j := range f.CAPKs {
		k, err := j.capk()
		if err != nil {
			return nil, fmt.Errorf("%w: key %d: %v", ErrCAPKFile, i, err)
		}
		id := capkID{k.RID, k.Index}
		if seen[id] {
			return nil, fmt.Errorf("%w: key %d: %s given twice", ErrCAPKFile, i, k.name())
		}
		seen[id] = true
		out = append(out, k)
	}
	return out, nil
}

func (j capkJSON) capk() (CAPK, error) {
	var k CAPK
	rid, err := hexField("rid", j.RID, 5)
	if err != nil {
		return k, err
	}
	copy(k.RID[:], rid)
	idx, err := hexField("index", j.Index, 1)
	if err != nil {
		return k, err
	}
	k.Index = idx[0]
	if k.Modulus, err = hexField("modulus", j.Modulus, -1); err != nil {
		return k, err
	}
	if k.Exponent, err = hexField("exponent", j.Exponent, -1); err != nil {
		return k, err
	}
	if k.Checksum, err = hexField("checksum", j.Checksum, sha1.Size); err != nil {
		return k, err
	}
	if j.HashAlgorithm != "" {
		h, err := hexField("hash_algorithm", j.HashAlgorithm, 1)
		if err != nil {
			return k, err
		}
		k.HashAlgorithm = h[0]
	}
	if j.Expiry != "" {
		t, err := time.Parse(time.DateOnly, j.Expiry)
		if err != nil {
			return k, fmt.Errorf("expiry is not YYYY-MM-DD")
		}
		k.Expiry = t
	}
	return k, nil
}

// hexField decodes a hex string of want bytes (any non-zero length when
// want < 0).
func hexField(name, s string, want int) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%s is not hex", name)
	}
	if want >= 0 && len(b) != want {
		return nil, fmt.Errorf("%s is %d bytes, want %d", name, len(b), want)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%s is empty", name)
	}
	return b, nil
}

// EncodeCAPKFile writes keys in the format ParseCAPKFile reads, upper-case
// hex, one key per array element, with the checksum computed when a key
// has none. The simulator uses it to publish its test CA.
func EncodeCAPKFile(keys []CAPK) ([]byte, error) {
	f := capkFile{CAPKs: make([]capkJSON, 0, len(keys))}
	for _, k := range keys {
		sum := k.Checksum
		if len(sum) == 0 {
			sum = k.ComputeChecksum()
		}
		j := capkJSON{
			RID:      upperHex(k.RID[:]),
			Index:    upperHex([]byte{k.Index}),
			Modulus:  upperHex(k.Modulus),
			Exponent: upperHex(k.Exponent),
			Checksum: upperHex(sum),
		}
		if k.HashAlgorithm != 0 {
			j.HashAlgorithm = upperHex([]byte{k.HashAlgorithm})
		}
		if !k.Expiry.IsZero() {
			j.Expiry = k.Expiry.Format(time.DateOnly)
		}
		f.CAPKs = append(f.CAPKs, j)
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCAPKFile, err)
	}
	return append(b, '\n'), nil
}

func upperHex(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }
