package risk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"posd/terminal/schemaver"
)

// SchemaVersion is the layout of this package's buckets in the terminal's
// bbolt file. Schema 2:
//
//	risk_meta           "schema_version" -> "2"; "compat_version" -> "1";
//	                    "hotlist" -> the hotlist in use (see Hotlist.blob)
//	risk_velocity       card id (32) | at (8) | seq (8) -> amount (8)
//	risk_velocity_time  at (8) | seq (8) -> card id (32)
//	risk_refunds        at (8) | seq (8) -> amount (8)
//
// at is the approval time in Unix nanoseconds, seq the bucket sequence
// (two approvals in one nanosecond stay two), all big endian, so one card's
// approvals are contiguous and in time order, and the time index lists the
// oldest first for pruning. Card ids are keyed hashes, never PANs. The
// refunds keep no card at all.
//
// Schema 1 had no risk_refunds; schema 2 only adds it, so a schema 1
// build may still use the buckets (compat 1): it then counts no refunds.
const SchemaVersion = 2

// compatVersion is the oldest schema that can use this layout.
const compatVersion = 1

var (
	bucketMeta         = []byte("risk_meta")
	bucketVelocity     = []byte("risk_velocity")
	bucketVelocityTime = []byte("risk_velocity_time")
	bucketRefunds      = []byte("risk_refunds")
	keySchema          = []byte("schema_version")
	keyCompat          = []byte("compat_version") // the oldest schema that can use the buckets; absent: the schema
	keyHotlist         = []byte("hotlist")
)

const (
	timeKeyLen     = 8 + 8
	velocityKeyLen = len(CardID{}) + timeKeyLen
)

// initStorage creates this package's buckets, or checks the schema of the
// ones there, and returns the stored hotlist (nil when none).
func initStorage(db *bolt.DB) (*Hotlist, error) {
	var hl *Hotlist
	err := db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(keySchema); v != nil {
			// A newer schema is used as it is when its compat version
			// says this build can (a firmware rolled back after a newer
			// one only added to the layout).
			n, err := strconv.Atoi(string(v))
			if err != nil || n < 1 {
				return fmt.Errorf("%w: buckets have schema %q, this build reads 1 to %d", ErrSchema, v, SchemaVersion)
			}
			if _, err := schemaver.Compat(n, meta.Get(keyCompat), SchemaVersion); err != nil {
				return fmt.Errorf("%w: buckets: %w", ErrSchema, err)
			}
			if n < SchemaVersion {
				// Schema 1: the refunds bucket is added below.
				if err := putSchema(meta); err != nil {
					return err
				}
			}
		} else if err := putSchema(meta); err != nil {
			return err
		}
		for _, name := range [][]byte{bucketVelocity, bucketVelocityTime, bucketRefunds} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if v := meta.Get(keyHotlist); v != nil {
			hl, err = hotlistFromBlob(v)
		}
		return err
	})
	return hl, storageErr(err)
}

// putSchema marks the buckets as this build's layout.
func putSchema(meta *bolt.Bucket) error {
	if err := meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion))); err != nil {
		return err
	}
	return meta.Put(keyCompat, []byte(strconv.Itoa(compatVersion)))
}

// storageErr marks bbolt's own errors as ErrStorage; this package's typed
// errors pass through.
func storageErr(err error) error {
	switch {
	case err == nil:
		return nil
	case isOurs(err):
		return err
	}
	return fmt.Errorf("%w: %w", ErrStorage, err)
}

func isOurs(err error) bool {
	for _, e := range []error{ErrSchema, ErrDamaged, ErrStorage} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// nanos is t as stored: Unix nanoseconds, times before 1970 as 1970.
func nanos(t time.Time) uint64 {
	n := t.UnixNano()
	if n < 0 {
		return 0
	}
	return uint64(n)
}

// velocitySince counts card's approvals after since (and any later than
// now, should the clock have gone back) and sums their amounts.
func velocitySince(tx *bolt.Tx, card CardID, since time.Time) (count int, sum int64, err error) {
	b := tx.Bucket(bucketVelocity)
	if b == nil {
		return 0, 0, fmt.Errorf("%w: no %s bucket", ErrDamaged, bucketVelocity)
	}
	start := binary.BigEndian.AppendUint64(append([]byte(nil), card[:]...), nanos(since)+1)
	c := b.Cursor()
	for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, card[:]); k, v = c.Next() {
		if len(k) != velocityKeyLen || len(v) != 8 {
			return 0, 0, fmt.Errorf("%w: velocity entry of %d+%d bytes", ErrDamaged, len(k), len(v))
		}
		amount := binary.BigEndian.Uint64(v)
		if amount > uint64(MaxMinor) {
			return 0, 0, fmt.Errorf("%w: velocity amount out of range", ErrDamaged)
		}
		count++
		sum = addSat(sum, int64(amount))
	}
	return count, sum, nil
}

// addVelocity stores one approval of card.
func addVelocity(tx *bolt.Tx, card CardID, at time.Time, amount int64) error {
	b, bt := tx.Bucket(bucketVelocity), tx.Bucket(bucketVelocityTime)
	if b == nil || bt == nil {
		return fmt.Errorf("%w: velocity buckets missing", ErrDamaged)
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	tk := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, timeKeyLen), nanos(at)), seq)
	vk := append(append(make([]byte, 0, velocityKeyLen), card[:]...), tk...)
	if err := b.Put(vk, binary.BigEndian.AppendUint64(nil, uint64(amount))); err != nil {
		return err
	}
	return bt.Put(tk, card[:])
}

// pruneVelocity deletes up to max approvals made at or before cutoff,
// oldest first, and reports how many it deleted and whether more remain.
func pruneVelocity(tx *bolt.Tx, cutoff time.Time, max int) (int, bool, error) {
	b, bt := tx.Bucket(bucketVelocity), tx.Bucket(bucketVelocityTime)
	if b == nil || bt == nil {
		return 0, false, fmt.Errorf("%w: velocity buckets missing", ErrDamaged)
	}
	limit := nanos(cutoff)
	type entry struct{ tk, card []byte }
	var due []entry
	c := bt.Cursor()
	k, v := c.First()
	for ; k != nil && len(due) < max; k, v = c.Next() {
		if len(k) != timeKeyLen || len(v) != len(CardID{}) {
			return 0, false, fmt.Errorf("%w: velocity index entry of %d+%d bytes", ErrDamaged, len(k), len(v))
		}
		if binary.BigEndian.Uint64(k) > limit {
			break
		}
		due = append(due, entry{append([]byte(nil), k...), append([]byte(nil), v...)})
	}
	more := k != nil && len(due) == max && binary.BigEndian.Uint64(k) <= limit
	for _, e := range due {
		if err := b.Delete(append(e.card, e.tk...)); err != nil {
			return 0, false, err
		}
		if err := bt.Delete(e.tk); err != nil {
			return 0, false, err
		}
	}
	return len(due), more, nil
}

// refundsSince sums the refunds approved after since (and any later than
// now, should the clock have gone back).
func refundsSince(tx *bolt.Tx, since time.Time) (sum int64, err error) {
	b := tx.Bucket(bucketRefunds)
	if b == nil {
		return 0, fmt.Errorf("%w: no %s bucket", ErrDamaged, bucketRefunds)
	}
	c := b.Cursor()
	for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, nanos(since)+1)); k != nil; k, v = c.Next() {
		if len(k) != timeKeyLen || len(v) != 8 {
			return 0, fmt.Errorf("%w: refund entry of %d+%d bytes", ErrDamaged, len(k), len(v))
		}
		amount := binary.BigEndian.Uint64(v)
		if amount > uint64(MaxMinor) {
			return 0, fmt.Errorf("%w: refund amount out of range", ErrDamaged)
		}
		sum = addSat(sum, int64(amount))
	}
	return sum, nil
}

// addRefund stores one approved refund.
func addRefund(tx *bolt.Tx, at time.Time, amount int64) error {
	b := tx.Bucket(bucketRefunds)
	if b == nil {
		return fmt.Errorf("%w: no %s bucket", ErrDamaged, bucketRefunds)
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	k := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, timeKeyLen), nanos(at)), seq)
	return b.Put(k, binary.BigEndian.AppendUint64(nil, uint64(amount)))
}

// pruneRefunds deletes up to max refunds made at or before cutoff,
// oldest first, and reports how many it deleted and whether more remain.
func pruneRefunds(tx *bolt.Tx, cutoff time.Time, max int) (int, bool, error) {
	b := tx.Bucket(bucketRefunds)
	if b == nil {
		return 0, false, fmt.Errorf("%w: no %s bucket", ErrDamaged, bucketRefunds)
	}
	limit := nanos(cutoff)
	var due [][]byte
	c := b.Cursor()
	k, _ := c.First()
	for ; k != nil && len(due) < max; k, _ = c.Next() {
		if len(k) != timeKeyLen {
			return 0, false, fmt.Errorf("%w: refund entry key of %d bytes", ErrDamaged, len(k))
		}
		if binary.BigEndian.Uint64(k) > limit {
			break
		}
		due = append(due, append([]byte(nil), k...))
	}
	more := k != nil && len(due) == max && binary.BigEndian.Uint64(k) <= limit
	for _, k := range due {
		if err := b.Delete(k); err != nil {
			return 0, false, err
		}
	}
	return len(due), more, nil
}

// putHotlist replaces the stored hotlist.
func putHotlist(db *bolt.DB, h *Hotlist) error {
	return storageErr(db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%w: no %s bucket", ErrDamaged, bucketMeta)
		}
		return meta.Put(keyHotlist, h.blob())
	}))
}

// addSat adds two non-negative amounts without wrapping.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
