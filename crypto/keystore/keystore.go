// Package keystore keeps keys and small secrets at rest in a bbolt bucket,
// each one a TR-31 version D key block under the device KEK.
//
// Every stored block carries, inside its authenticated header, the entry
// name (optional block LB, so blocks cannot be swapped between names), the
// creation time (TS) and, for TDES and AES keys, the key check value (KC).
// Clear key bytes leave the package only through the Use and UseSecret
// callbacks; the buffers are zeroed when the callback returns.
package keystore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"posd/crypto/tr31"
)

// Bucket names in the shared bbolt file.
const (
	BucketKeys = "keys"
	BucketMeta = "keystore_meta"
)

const (
	schemaVersion = "1"
	metaSchema    = "schema"
	metaCompat    = "compat" // the oldest schema that can use the keys; absent: the schema
	metaKEKCheck  = "kek_check"

	// MaxName is the longest entry name.
	MaxName = 64
	// MaxSecret is the largest opaque secret PutSecret accepts.
	MaxSecret = 4096

	// Header values of opaque secrets: proprietary (numeric) key usage and
	// algorithm, no special mode of use.
	secretUsage = "90"
	secretAlg   = '0'

	tsLayout = "20060102150405Z"
)

// KEK supplies the 32-byte AES key every entry is wrapped under. Key must
// return the same bytes on every call; the store neither keeps nor alters
// the slice.
type KEK interface {
	Key() []byte
}

// Opts configures a Store. A nil *Opts means the defaults.
type Opts struct {
	Logger *slog.Logger     // default: discard
	Now    func() time.Time // default: time.Now
	Rand   io.Reader        // default: crypto/rand.Reader
}

// Entry describes a stored key or secret; it never holds key bytes.
type Entry struct {
	Name      string
	Usage     string // TR-31 key usage, e.g. "B1", "P0", "K1"; "90" for secrets
	Algorithm byte   // TR-31 algorithm, e.g. 'A', 'T'
	KCV       string // 3-byte check value, hex upper; empty when the algorithm has none
	Created   time.Time
	Secret    bool // stored with PutSecret
}

// Store is the key store. It is safe for concurrent use as bbolt is.
type Store struct {
	db   *bbolt.DB
	kek  KEK
	log  *slog.Logger
	now  func() time.Time
	rand io.Reader
}

// Open prepares the key store's buckets in db (which it does not close),
// records or checks the schema version and the KEK check value.
func Open(db *bbolt.DB, kek KEK, opts *Opts) (*Store, error) {
	if kek == nil || len(kek.Key()) != 32 {
		return nil, fmt.Errorf("%w: need a 32-byte AES key", ErrKEK)
	}
	s := &Store{db: db, kek: kek, log: slog.New(slog.DiscardHandler), now: time.Now, rand: rand.Reader}
	if opts != nil {
		if opts.Logger != nil {
			s.log = opts.Logger
		}
		if opts.Now != nil {
			s.now = opts.Now
		}
		if opts.Rand != nil {
			s.rand = opts.Rand
		}
	}
	id, kcv, err := tr31.KeyCheckValue('A', kek.Key())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKEK, err)
	}
	check := id + strings.ToUpper(hex.EncodeToString(kcv))
	err = db.Update(func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists([]byte(BucketKeys)); err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists([]byte(BucketMeta))
		if err != nil {
			return err
		}
		switch v := meta.Get([]byte(metaSchema)); {
		case v == nil:
			if err := meta.Put([]byte(metaSchema), []byte(schemaVersion)); err != nil {
				return err
			}
		case string(v) != schemaVersion && string(meta.Get([]byte(metaCompat))) != schemaVersion:
			// Another schema, unless a newer one that says this build
			// can use it (a firmware rolled back after a newer one).
			return fmt.Errorf("%w: %q (compat %q)", ErrSchema, v, meta.Get([]byte(metaCompat)))
		}
		switch v := meta.Get([]byte(metaKEKCheck)); {
		case v == nil:
			return meta.Put([]byte(metaKEKCheck), []byte(check))
		case string(v) != check:
			return ErrWrongKEK
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("keystore: open: %w", err)
	}
	return s, nil
}

func checkName(name string) error {
	if name == "" || len(name) > MaxName {
		return fmt.Errorf("%w: length %d", ErrName, len(name))
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x21 || name[i] > 0x7E {
			return fmt.Errorf("%w: %q", ErrName, name)
		}
	}
	return nil
}

// KCV returns the 3-byte key check value in upper-case hex: for TDES ('T')
// and DES ('D') the first 3 bytes of E(key, 0^8); for AES ('A') the first 3
// bytes of AES-CMAC(key, 0^16).
func KCV(alg byte, key []byte) (string, error) {
	_, kcv, err := tr31.KeyCheckValue(alg, key)
	if err != nil {
		return "", fmt.Errorf("keystore: %w", err)
	}
	return strings.ToUpper(hex.EncodeToString(kcv[:3])), nil
}

// seal wraps key under the KEK with the store's own optional blocks.
func (s *Store) seal(name string, h tr31.Header, key []byte) (string, error) {
	h.Version = tr31.VersionD
	blocks := make([]tr31.OptBlock, 0, len(h.Blocks)+3)
	for _, b := range h.Blocks {
		switch b.ID {
		case "LB", "TS", "KC", "KP":
			// replaced by the store's own below
		default:
			blocks = append(blocks, b)
		}
	}
	blocks = append(blocks,
		tr31.OptBlock{ID: "LB", Data: name},
		tr31.OptBlock{ID: "TS", Data: s.now().UTC().Format(tsLayout)})
	if _, _, err := tr31.KeyCheckValue(h.Algorithm, key); err == nil {
		blocks = append(blocks, tr31.OptBlock{ID: "KC"})
	}
	h.Blocks = blocks
	var o tr31.WrapOptions
	if len(key) < 32 {
		o.MaskedKeyLen = 32 // stored blocks do not reveal the key length
	}
	return tr31.WrapOpts(s.kek.Key(), h, key, s.rand, o)
}

func (s *Store) putBlock(name, block string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(BucketKeys)).Put([]byte(name), []byte(block))
	})
}

// Put wraps key under the KEK with header h (version forced to D; blocks
// LB, TS, KC, KP are the store's) and stores it as name, replacing any entry
// of that name. The caller keeps ownership of key.
func (s *Store) Put(name string, h tr31.Header, key []byte) error {
	if err := checkName(name); err != nil {
		return err
	}
	if h.KeyUsage == secretUsage && h.Algorithm == secretAlg {
		return fmt.Errorf("%w: header reserved for secrets", ErrKind)
	}
	block, err := s.seal(name, h, key)
	if err != nil {
		return fmt.Errorf("keystore: put %q: %w", name, err)
	}
	if err := s.putBlock(name, block); err != nil {
		return fmt.Errorf("keystore: put %q: %w", name, err)
	}
	kcv, _ := KCV(h.Algorithm, key)
	s.log.Info("key stored", "name", name, "usage", h.KeyUsage, "kcv", kcv)
	return nil
}

// open reads and unwraps the named entry. The caller must clear the key.
func (s *Store) open(name string) (tr31.Header, []byte, error) {
	if err := checkName(name); err != nil {
		return tr31.Header{}, nil, err
	}
	var block string
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket([]byte(BucketKeys)).Get([]byte(name))
		if v == nil {
			return fmt.Errorf("%w: %q", ErrNotFound, name)
		}
		block = string(v) // copies out of the mmap
		return nil
	})
	if err != nil {
		return tr31.Header{}, nil, err
	}
	h, key, err := tr31.Unwrap(s.kek.Key(), block)
	if err != nil {
		return tr31.Header{}, nil, fmt.Errorf("%w: %q: %w", ErrCorrupt, name, err)
	}
	if lb, _ := h.Block("LB"); lb != name {
		clear(key)
		return tr31.Header{}, nil, fmt.Errorf("%w: %q is bound to another name", ErrCorrupt, name)
	}
	return h, key, nil
}

func isSecret(h tr31.Header) bool { return h.KeyUsage == secretUsage && h.Algorithm == secretAlg }

func entryFromHeader(name string, h tr31.Header, key []byte) Entry {
	e := Entry{Name: name, Usage: h.KeyUsage, Algorithm: h.Algorithm, Secret: isSecret(h)}
	if ts, ok := h.Block("TS"); ok {
		if t, err := time.Parse(tsLayout, ts); err == nil {
			e.Created = t
		}
	}
	if !e.Secret {
		if kcv, err := KCV(h.Algorithm, key); err == nil {
			e.KCV = kcv
		}
	}
	return e
}

// Use unwraps the named key and hands the clear bytes to fn only; the
// buffer is zeroed when fn returns. fn must not keep the slice. fn's error
// is returned as is.
func (s *Store) Use(name string, fn func(key []byte) error) error {
	h, key, err := s.open(name)
	if err != nil {
		return err
	}
	defer clear(key)
	if isSecret(h) {
		return fmt.Errorf("%w: %q is a secret", ErrKind, name)
	}
	return fn(key)
}

// Header returns the authenticated TR-31 header of the named key (e.g. to
// read its KS or IK block). Blocks include the store's LB, TS and KC.
func (s *Store) Header(name string) (tr31.Header, error) {
	h, key, err := s.open(name)
	clear(key)
	return h, err
}

// Info describes the named entry after verifying it under the KEK.
func (s *Store) Info(name string) (Entry, error) {
	h, key, err := s.open(name)
	defer clear(key)
	if err != nil {
		return Entry{}, err
	}
	return entryFromHeader(name, h, key), nil
}

// List describes every entry, sorted by name, verifying each under the KEK;
// the first entry that does not verify stops the listing with ErrCorrupt.
func (s *Store) List() ([]Entry, error) {
	var names []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(BucketKeys)).ForEach(func(k, _ []byte) error {
			names = append(names, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("keystore: list: %w", err)
	}
	out := make([]Entry, 0, len(names))
	for _, n := range names {
		e, err := s.Info(n)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Delete removes the named entry.
func (s *Store) Delete(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(BucketKeys))
		if b.Get([]byte(name)) == nil {
			return fmt.Errorf("%w: %q", ErrNotFound, name)
		}
		return b.Delete([]byte(name))
	})
	if err != nil {
		return err
	}
	s.log.Info("key deleted", "name", name)
	return nil
}

// Import unwraps a TR-31 key block (any version) under the stored KBPK
// kbpkName — whose usage must be K0 or K1 with mode B, D or N — and stores
// the key as name, re-wrapped under the KEK with the block's header.
func (s *Store) Import(name string, kbpkName string, block string) error {
	if err := checkName(name); err != nil {
		return err
	}
	kh, err := s.Header(kbpkName)
	if err != nil {
		return err
	}
	if (kh.KeyUsage != "K0" && kh.KeyUsage != "K1") || !strings.ContainsRune("BDN", rune(kh.ModeOfUse)) {
		return fmt.Errorf("%w: %q has usage %s mode %c", ErrUsage, kbpkName, kh.KeyUsage, kh.ModeOfUse)
	}
	return s.Use(kbpkName, func(kbpk []byte) error {
		h, key, err := tr31.Unwrap(kbpk, block)
		if err != nil {
			return fmt.Errorf("%w: under %q: %w", ErrImport, kbpkName, err)
		}
		defer clear(key)
		if err := s.Put(name, h, key); err != nil {
			return err
		}
		s.log.Info("key imported", "name", name, "kbpk", kbpkName)
		return nil
	})
}

// Update runs fn in one read-write transaction of the store's database:
// a caller that must take its own locks after the database's (the DUKPT
// source) writes with PutSecretTx inside it.
func (s *Store) Update(fn func(tx *bbolt.Tx) error) error { return s.db.Update(fn) }

// PutSecret stores opaque data (at most MaxSecret bytes, e.g. DUKPT
// originator state) as name, wrapped under the KEK.
func (s *Store) PutSecret(name string, data []byte) error {
	return s.db.Update(func(tx *bbolt.Tx) error { return s.PutSecretTx(tx, name, data) })
}

// PutSecretTx is PutSecret inside the caller's bbolt transaction (of the
// same database), so the secret is committed together with the caller's
// other writes.
func (s *Store) PutSecretTx(tx *bbolt.Tx, name string, data []byte) error {
	if err := checkName(name); err != nil {
		return err
	}
	if len(data) == 0 || len(data) > MaxSecret {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(data))
	}
	h := tr31.Header{Version: tr31.VersionD, KeyUsage: secretUsage, Algorithm: secretAlg,
		ModeOfUse: 'N', Exportability: 'N', KeyContext: tr31.ContextStorage}
	block, err := s.seal(name, h, data)
	if err != nil {
		return fmt.Errorf("keystore: put secret %q: %w", name, err)
	}
	if err := tx.Bucket([]byte(BucketKeys)).Put([]byte(name), []byte(block)); err != nil {
		return fmt.Errorf("keystore: put secret %q: %w", name, err)
	}
	return nil
}

// UseSecret hands the named secret to fn only; the buffer is zeroed when fn
// returns.
func (s *Store) UseSecret(name string, fn func(data []byte) error) error {
	h, data, err := s.open(name)
	if err != nil {
		return err
	}
	defer clear(data)
	if !isSecret(h) {
		return fmt.Errorf("%w: %q is a key", ErrKind, name)
	}
	return fn(data)
}
