package devid

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"go.etcd.io/bbolt"

	"posd/conn/clock"
	"posd/crypto/tr34"
)

// Buckets of the nonce store in the shared bbolt file.
const (
	BucketNonces = "devid_nonces"
	metaSchema   = "\x00schema" // in BucketNonces; no nonce has this length
	metaCompat   = "\x00compat" // the oldest schema that can use the bucket; absent: the schema
	nonceSchema  = "1"
)

// Defaults of NonceOpts.
const (
	DefaultNonceTTL = 10 * time.Minute
	DefaultMaxNonce = 16
)

// NonceOpts configures the nonce store. A nil *NonceOpts means defaults.
type NonceOpts struct {
	Clock clock.Clock   // nil: wall clock
	Rand  io.Reader     // nil: crypto/rand
	TTL   time.Duration // how long an issued number may be used; 0: DefaultNonceTTL
	Max   int           // numbers kept outstanding, the oldest dropped; 0: DefaultMaxNonce
}

// Nonces issues the device's random numbers for key exchanges and lets
// each be used once, within its time to live. They are kept in bbolt
// (committed, fsync) before they are handed out, and deleted in the same
// transaction that accepts them, so single use survives restarts. Safe for
// concurrent use as bbolt is.
type Nonces struct {
	db   *bbolt.DB
	clk  clock.Clock
	rand io.Reader
	ttl  time.Duration
	max  int
}

// OpenNonces prepares the nonce bucket in db (which it does not close).
func OpenNonces(db *bbolt.DB, o *NonceOpts) (*Nonces, error) {
	n := &Nonces{db: db, ttl: DefaultNonceTTL, max: DefaultMaxNonce}
	if o != nil {
		n.clk, n.rand = o.Clock, o.Rand
		if o.TTL > 0 {
			n.ttl = o.TTL
		}
		if o.Max > 0 {
			n.max = o.Max
		}
	}
	n.clk = clock.Or(n.clk)
	err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(BucketNonces))
		if err != nil {
			return err
		}
		switch v := b.Get([]byte(metaSchema)); {
		case v == nil:
			return b.Put([]byte(metaSchema), []byte(nonceSchema))
		case string(v) != nonceSchema && string(b.Get([]byte(metaCompat))) != nonceSchema:
			// Another schema, unless a newer one that says this build
			// can use it (a firmware rolled back after a newer one).
			return fmt.Errorf("%w: schema %q", ErrNonceStore, v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("devid: opening the nonce store: %w", err)
	}
	return n, nil
}

// Issue draws a fresh random number (tr34.NonceLen bytes), records it with
// its expiry and returns it. Expired numbers are swept; beyond Max
// outstanding, the oldest is dropped.
func (n *Nonces) Issue() ([]byte, error) {
	nonce, err := tr34.NewNonce(n.rand)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	now := n.clk.Now()
	var exp [8]byte
	binary.BigEndian.PutUint64(exp[:], uint64(now.Add(n.ttl).UnixNano()))
	err = n.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(BucketNonces))
		type entry struct {
			k   []byte
			exp int64
		}
		var live []entry
		var stale [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if string(k) == metaSchema || string(k) == metaCompat {
				return nil
			}
			e := expiry(v)
			if e <= now.UnixNano() {
				stale = append(stale, bytes.Clone(k))
			} else {
				live = append(live, entry{bytes.Clone(k), e})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for len(live) >= n.max {
			oldest := 0
			for i, e := range live {
				if e.exp < live[oldest].exp {
					oldest = i
				}
			}
			stale = append(stale, live[oldest].k)
			live = append(live[:oldest], live[oldest+1:]...)
		}
		for _, k := range stale {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return b.Put(nonce, exp[:])
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNonceStore, err)
	}
	return nonce, nil
}

func expiry(v []byte) int64 {
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// Consume uses up an issued number: nil the first time within its time to
// live; ErrNonceExpired after it (the number is used up all the same);
// ErrNonceUnknown for a number never issued here or already used.
func (n *Nonces) Consume(nonce []byte) error {
	if len(nonce) < tr34.MinNonceLen || len(nonce) > tr34.MaxNonceLen {
		return fmt.Errorf("%w: %d bytes", ErrNonceUnknown, len(nonce))
	}
	now := n.clk.Now().UnixNano()
	var result error
	err := n.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(BucketNonces))
		v := b.Get(nonce)
		if v == nil {
			result = ErrNonceUnknown
			return nil
		}
		if expiry(v) <= now {
			result = ErrNonceExpired
		}
		return b.Delete(nonce)
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNonceStore, err)
	}
	return result
}

// Outstanding is the number of issued numbers not used yet (expired ones
// included until the next Issue sweeps them).
func (n *Nonces) Outstanding() (int, error) {
	c := 0
	err := n.db.View(func(tx *bbolt.Tx) error {
		c = tx.Bucket([]byte(BucketNonces)).Stats().KeyN - 1
		return nil
	})
	return c, err
}
