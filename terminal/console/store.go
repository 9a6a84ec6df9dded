package console

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"posd/terminal/schemaver"
)

// SchemaVersion is the layout of this package's buckets in the terminal's
// bbolt file. Schema 1:
//
//	console_lockout  "schema_version" -> "1" (for both buckets);
//	                 "state" -> JSON {"failures":N,"until":UNIX_NANO,"delay":NANOS}
//	                 (absent: no failure since the last successful login);
//	                 "audit_import" -> the id of the last audit trail
//	                 ImportAudit brought in (absent: none)
//	console_audit    seq (8, big endian, the bucket sequence) -> JSON
//	                 {"t":UNIX_NANO,"eng":..,"role":..,"ev":..,"d":..}
//
// The audit bucket keeps the newest MaxAudit entries; older ones are
// deleted as new ones arrive. Its keys are the entries' sequence numbers,
// which ImportAudit keeps across a factory reset, so the numbering goes on
// where the erased database left it.
const SchemaVersion = 1

// MaxAudit is how many audit entries the console keeps: an attacker typing
// at the port cannot fill the flash.
const MaxAudit = 10000

// The lockout schedule: LockAfter failed logins in a row lock the console
// for FirstLock, each further failure doubles it, up to MaxLock.
const (
	LockAfter = 3
	FirstLock = 30 * time.Second
	MaxLock   = time.Hour
)

// maxDetail bounds an audit entry's detail.
const maxDetail = 256

var (
	bucketAudit   = []byte("console_audit")
	bucketLockout = []byte("console_lockout")
	keySchema     = []byte("schema_version")
	keyCompat     = []byte("compat_version") // the oldest schema that can use the buckets; absent: the schema
	keyLockState  = []byte("state")
	keyImport     = []byte("audit_import")
)

// AuditEntry is one line of the console's audit log. Detail never holds a
// token, a key component, a key block or card data.
type AuditEntry struct {
	Seq      uint64
	Time     time.Time
	Engineer string // the verified engineer id; "" before a login
	Role     string
	Event    string // see the package documentation
	Detail   string
}

type storedEntry struct {
	T    int64  `json:"t"`
	Eng  string `json:"eng"`
	Role string `json:"role"`
	Ev   string `json:"ev"`
	D    string `json:"d"`
}

type lockState struct {
	Failures int   `json:"failures"`
	Until    int64 `json:"until"`
	Delay    int64 `json:"delay"`
}

// lockDelay is how long the console locks after the n-th failure in a row.
func lockDelay(n int) time.Duration {
	if n < LockAfter {
		return 0
	}
	d := FirstLock
	for i := LockAfter; i < n; i++ {
		d *= 2
		if d >= MaxLock {
			return MaxLock
		}
	}
	return d
}

func initStorage(db *bolt.DB) error {
	err := db.Update(func(tx *bolt.Tx) error {
		lb, _, err := initBuckets(tx)
		if err != nil {
			return err
		}
		_, err = readLock(lb)
		return err
	})
	return storageErr(err)
}

// initBuckets creates the buckets (schema SchemaVersion) or checks the
// schema of those there, and returns the lockout and the audit bucket.
func initBuckets(tx *bolt.Tx) (lb, ab *bolt.Bucket, err error) {
	if lb, err = tx.CreateBucketIfNotExists(bucketLockout); err != nil {
		return nil, nil, err
	}
	if v := lb.Get(keySchema); v != nil {
		// A newer schema is used as it is when its compat version says
		// this build can (a firmware rolled back after a newer one only
		// added to the layout).
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 {
			return nil, nil, fmt.Errorf("%w: buckets have schema %q, this build reads 1 to %d", ErrSchema, v, SchemaVersion)
		}
		if _, err := schemaver.Compat(n, lb.Get(keyCompat), SchemaVersion); err != nil {
			return nil, nil, fmt.Errorf("%w: buckets: %w", ErrSchema, err)
		}
	} else if err := lb.Put(keySchema, []byte(strconv.Itoa(SchemaVersion))); err != nil {
		return nil, nil, err
	}
	if ab, err = tx.CreateBucketIfNotExists(bucketAudit); err != nil {
		return nil, nil, err
	}
	return lb, ab, nil
}

// storageErr marks bbolt's own errors as ErrStorage; this package's typed
// errors pass through.
func storageErr(err error) error {
	if err == nil || errors.Is(err, ErrSchema) || errors.Is(err, ErrDamaged) || errors.Is(err, ErrStorage) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrStorage, err)
}

func readLock(b *bolt.Bucket) (lockState, error) {
	var st lockState
	v := b.Get(keyLockState)
	if v == nil {
		return st, nil
	}
	if err := json.Unmarshal(v, &st); err != nil || st.Failures < 0 || st.Delay < 0 {
		return lockState{}, fmt.Errorf("%w: lockout state", ErrDamaged)
	}
	return st, nil
}

func writeLock(b *bolt.Bucket, st lockState) error {
	v, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return b.Put(keyLockState, v)
}

// lockedFor returns how long logins stay locked at now (0: not locked).
// A lock never lasts longer than its delay from now: a clock set back (a
// board without a battery-backed clock) cannot lock the console for years.
//
// It only reads: "login" can arrive thousands of times a second from
// whoever holds the port, and a commit is a flash write and an fsync
// holding the database's one writer. The state is written only to cut a
// lock that a clock set back made too long, once per clock jump.
func (c *Console) lockedFor(now time.Time) (time.Duration, error) {
	var left time.Duration
	tooLong := false
	err := c.db.View(func(tx *bolt.Tx) error {
		st, l, err := lockLeft(tx, now)
		left, tooLong = l, st.Delay > 0 && l > time.Duration(st.Delay)
		return err
	})
	if err == nil && tooLong {
		err = c.db.Update(func(tx *bolt.Tx) error {
			st, l, err := lockLeft(tx, now)
			left = l
			if err != nil || st.Delay == 0 || l <= time.Duration(st.Delay) {
				return err
			}
			left = time.Duration(st.Delay)
			st.Until = now.Add(left).UnixNano()
			return writeLock(tx.Bucket(bucketLockout), st)
		})
	}
	if left < 0 {
		left = 0
	}
	return left, storageErr(err)
}

// lockLeft reads the lockout state and how long its lock lasts past now
// as stored (0 when there is no lock).
func lockLeft(tx *bolt.Tx, now time.Time) (lockState, time.Duration, error) {
	b := tx.Bucket(bucketLockout)
	if b == nil {
		return lockState{}, 0, fmt.Errorf("%w: bucket %s missing", ErrDamaged, bucketLockout)
	}
	st, err := readLock(b)
	if err != nil || st.Delay == 0 {
		return st, 0, err
	}
	return st, time.Unix(0, st.Until).Sub(now), nil
}

// failedLogin counts one more failure in a row and returns the count and
// the lock it starts (0: none).
func (c *Console) failedLogin(now time.Time) (int, time.Duration, error) {
	var st lockState
	err := c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLockout)
		if b == nil {
			return fmt.Errorf("%w: bucket %s missing", ErrDamaged, bucketLockout)
		}
		var err error
		if st, err = readLock(b); err != nil {
			// A damaged state must not unlock: start over from the lock.
			st = lockState{Failures: LockAfter - 1}
		}
		st.Failures++
		d := lockDelay(st.Failures)
		st.Delay = int64(d)
		st.Until = now.Add(d).UnixNano()
		return writeLock(b, st)
	})
	return st.Failures, time.Duration(st.Delay), storageErr(err)
}

// loginSucceeded clears the failures.
func (c *Console) loginSucceeded() error {
	err := c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLockout)
		if b == nil {
			return fmt.Errorf("%w: bucket %s missing", ErrDamaged, bucketLockout)
		}
		return b.Delete(keyLockState)
	})
	return storageErr(err)
}

// audit appends an entry (committed, fsynced) and drops the one MaxAudit
// entries older.
func (c *Console) audit(engineer, role, event, detail string) error {
	v, err := encodeEntry(AuditEntry{Time: c.clk.Now(), Engineer: engineer, Role: role, Event: event, Detail: detail})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	err = c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		if b == nil {
			return fmt.Errorf("%w: bucket %s missing", ErrDamaged, bucketAudit)
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := b.Put(seqKey(seq), v); err != nil {
			return err
		}
		if seq > MaxAudit {
			return b.Delete(seqKey(seq - MaxAudit))
		}
		return nil
	})
	if err != nil {
		c.log.Error("console audit failed", "event", event, "err", err)
	}
	return storageErr(err)
}

// encodeEntry is e as the audit bucket stores it (its Seq is the key):
// engineer, role and detail through the output guard, the detail cut to
// maxDetail.
func encodeEntry(e AuditEntry) ([]byte, error) {
	detail := guardLine(e.Detail)
	if len(detail) > maxDetail {
		detail = detail[:maxDetail]
	}
	return json.Marshal(storedEntry{
		T: e.Time.UnixNano(), Eng: guardLine(e.Engineer), Role: guardLine(e.Role), Ev: guardLine(e.Event), D: detail,
	})
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// Audit returns the newest n audit entries, oldest first (as a log tail
// reads). n <= 0 returns none; n is capped at MaxAudit.
func (c *Console) Audit(n int) ([]AuditEntry, error) {
	if n <= 0 {
		return nil, nil
	}
	n = min(n, MaxAudit)
	var out []AuditEntry
	err := c.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		if b == nil {
			return fmt.Errorf("%w: bucket %s missing", ErrDamaged, bucketAudit)
		}
		cur := b.Cursor()
		for k, v := cur.Last(); k != nil && len(out) < n; k, v = cur.Prev() {
			e, ok := decodeEntry(k, v)
			if !ok {
				return fmt.Errorf("%w: audit entry", ErrDamaged)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, storageErr(err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// decodeEntry is the entry stored under key k.
func decodeEntry(k, v []byte) (AuditEntry, bool) {
	var se storedEntry
	if len(k) != 8 || json.Unmarshal(v, &se) != nil {
		return AuditEntry{}, false
	}
	return AuditEntry{
		Seq: binary.BigEndian.Uint64(k), Time: time.Unix(0, se.T).UTC(),
		Engineer: se.Eng, Role: se.Role, Event: se.Ev, Detail: se.D,
	}, true
}

// ReadAuditFile reads the audit log out of the bbolt file at path, a
// terminal database about to be erased by a factory reset: all its
// entries (at most MaxAudit, the newest), oldest first, and how many
// could not be decoded (left out). A file without the audit bucket has no
// entries.
//
// The caller must have checked the file (terminal/store's check, run in a
// child process by posd) and hold it closed: ReadAuditFile opens it
// read-only in this process. A memory fault or a bbolt panic while it
// reads (a file damaged after its check) is ErrDamaged, not the end of
// the process.
func ReadAuditFile(path string, timeout time.Duration) (entries []AuditEntry, unreadable int, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			entries, unreadable = nil, 0
			err = fmt.Errorf("%w: reading the audit log of %s failed: %v", ErrDamaged, path, r)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		if b == nil {
			return nil
		}
		cur := b.Cursor()
		for k, v := cur.Last(); k != nil && len(entries)+unreadable < MaxAudit; k, v = cur.Prev() {
			if e, ok := decodeEntry(k, v); ok {
				entries = append(entries, e)
			} else {
				unreadable++
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, storageErr(err)
	}
	slices.Reverse(entries)
	return entries, unreadable, nil
}

// ImportAudit brings an audit trail that ReadAuditFile read out of an
// erased database into db, then appends note (an entry of the caller's,
// such as the factory reset carried out), in one transaction. id names
// the trail: when db has already imported a trail of that id, nothing
// changes and ImportAudit returns false, so an import repeated after a
// crash does not list the entries twice (id "" always imports).
//
// The entries keep their sequence numbers when they all come after db's
// own (the fresh database of a reset), and are numbered after db's
// entries otherwise; only the newest MaxAudit entries stay, as for
// entries the console writes. Their texts pass the same output guard.
func ImportAudit(db *bolt.DB, id string, entries []AuditEntry, note AuditEntry) (bool, error) {
	entries = slices.Clone(entries)
	slices.SortStableFunc(entries, func(a, b AuditEntry) int { return cmp.Compare(a.Seq, b.Seq) })
	if len(entries) > MaxAudit {
		entries = entries[len(entries)-MaxAudit:]
	}
	imported := false
	err := db.Update(func(tx *bolt.Tx) error {
		lb, ab, err := initBuckets(tx)
		if err != nil {
			return err
		}
		if id != "" && string(lb.Get(keyImport)) == id {
			return nil
		}
		seq := ab.Sequence()
		keep := len(entries) > 0 && entries[0].Seq > seq
		for i := 1; keep && i < len(entries); i++ {
			keep = entries[i].Seq > entries[i-1].Seq
		}
		for _, e := range entries {
			if keep {
				seq = e.Seq
			} else {
				seq++
			}
			v, err := encodeEntry(e)
			if err != nil {
				return err
			}
			if err := ab.Put(seqKey(seq), v); err != nil {
				return err
			}
		}
		seq++
		v, err := encodeEntry(note)
		if err != nil {
			return err
		}
		if err := ab.Put(seqKey(seq), v); err != nil {
			return err
		}
		if err := ab.SetSequence(seq); err != nil {
			return err
		}
		// Keep the newest MaxAudit, as audit does.
		var old [][]byte
		cur := ab.Cursor()
		for k, _ := cur.First(); len(k) == 8 && seq > MaxAudit && binary.BigEndian.Uint64(k) <= seq-MaxAudit; k, _ = cur.Next() {
			old = append(old, slices.Clone(k))
		}
		for _, k := range old {
			if err := ab.Delete(k); err != nil {
				return err
			}
		}
		if id != "" {
			if err := lb.Put(keyImport, []byte(id)); err != nil {
				return err
			}
		}
		imported = true
		return nil
	})
	return imported, storageErr(err)
}
