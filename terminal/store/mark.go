package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"

	"posd/terminal/durable"
)

// The counters' high-water mark (Opts.Mark) keeps, outside the database,
// the highest value of each counter that may have been used: STANs,
// invoice numbers, record ids and the batch number, which the host and
// the customers' slips must never see twice. A copy of posd.db restored
// from a backup is behind it; Open moves its counters past the mark
// instead of handing out again what the lost transactions had.
//
// A commit that takes a value beyond the mark first writes the mark
// (durably, the same way as the DUKPT KSN mark) MarkReserve values ahead,
// so that one write covers that many transactions. A clean Close lowers
// the mark to the values the database holds: the next Open then tells a
// database that is behind them (an older copy) from one that is not. After
// a stop that was not clean, Open skips what was reserved.

// MarkFile is the name a daemon gives the counters' mark in its data
// directory, next to posd.db and the DUKPT KSN mark.
const MarkFile = "counters-mark.json"

// SeenSuffix names, next to the mark (its path + SeenSuffix), the counters'
// values the last commit left in the database.
const SeenSuffix = ".last"

// MarkReserve is how many values of a counter one write of the mark
// covers: a stop that is not clean skips at most that many.
const MarkReserve = 100

// Counter names in the mark: the counters bucket's own (stan, invoice;
// any other NextCounter names), the record ids (the txns bucket's
// sequence) and the open batch.
const (
	CounterIDs   = "ids"
	CounterBatch = "batch"
)

// batchWrap is the batch number's range: 1 to batchWrap, then 1 again.
const batchWrap = 999999

// markEntry is one counter's mark.
type markEntry struct {
	// Max is the highest value that may have been used. The batch's
	// values count its closes (a number past batchWrap is its number
	// again from 1), so that the mark never wraps.
	Max uint64 `json:"max"`
	// Low is a value the database held when Max was written: a database
	// below it is an older copy.
	Low uint64 `json:"low"`
}

// markFile is the mark as stored.
type markFile struct {
	Counters map[string]markEntry `json:"counters"`
}

// counterMark is the mark as a DB keeps it in memory, the same as the file
// once a write succeeded.
type counterMark struct {
	path    string
	reserve uint64
	mu      sync.Mutex
	m       map[string]markEntry
	writes  int // saves that succeeded (the benchmark's figure)
	// fresh: at Open the database had never taken a counter value.
	fresh bool

	// seenPath is SeenSuffix's file; seen its values as Open read them
	// (then as posd last wrote them). pendTx is the write transaction
	// that took values, pend those values (written once it commits).
	seenPath string
	seenMu   sync.Mutex
	seen     map[string]uint64
	pendTx   *bolt.Tx
	pend     map[string]uint64
}

// CounterMove is a counter Open moved past the mark. From and To are the
// numbers as the host sees them (STAN and invoice 1 to 999999, the batch
// number); Behind: the database held less than the mark said it had at
// its last write, so it is an older copy (restored from a backup, or
// another file put in place); else posd had not stopped cleanly and the
// values it had reserved are skipped.
type CounterMove struct {
	Counter string `json:"counter"`
	From    uint64 `json:"from"`
	To      uint64 `json:"to"`
	Behind  bool   `json:"behind"`
}

// Moved is what Open moved past the counters' mark (empty: nothing, or
// no mark).
func (d *DB) Moved() []CounterMove { return slices.Clone(d.moved) }

// NewDatabase reports whether Open found a database that had never taken
// a counter value (made new, its marker removed) where a counters' mark
// was: its counters, if Moved says so, continue past the mark; it is not
// an older copy.
func (d *DB) NewDatabase() bool { return d.mark != nil && d.mark.fresh }

// Behind reports whether Open found the database behind the counters'
// mark: an older copy of the file than the one posd last used.
func (d *DB) Behind() bool {
	for _, m := range d.moved {
		if m.Behind {
			return true
		}
	}
	return false
}

func loadMark(path string) (*counterMark, error) {
	var f markFile
	if _, err := durable.ReadJSON(path, &f); err != nil {
		if errors.Is(err, durable.ErrUnreadable) {
			return nil, fmt.Errorf("%w: %s is unreadable (%w). Restore it from a backup; it is what keeps STANs, "+
				"invoice numbers, record ids and batch numbers from repeating. Only when posd.db is this terminal's "+
				"newest may it be removed (posd makes it again from the database)", ErrMark, path, err)
		}
		return nil, fmt.Errorf("store: counters' mark: %w", err)
	}
	if f.Counters == nil {
		f.Counters = map[string]markEntry{}
	}
	for name, e := range f.Counters {
		if name == "" || len(name) > 64 || e.Low > e.Max {
			return nil, fmt.Errorf("%w: %s holds an impossible entry (counter %.64q, low %d, max %d). Restore it from a backup; "+
				"only when posd.db is this terminal's newest may it be removed (posd makes it again from the database)",
				ErrMark, path, name, e.Low, e.Max)
		}
	}
	c := &counterMark{path: path, reserve: MarkReserve, m: f.Counters, seenPath: path + SeenSuffix}
	c.seen = readSeen(c.seenPath)
	return c, nil
}

// seenHeader starts the file of the last commit's values; a CRC-32 line
// of what comes before it ends the file.
const seenHeader = "posd-counters-last 1\n"

// readSeen reads the last commit's values; a file missing, torn or
// damaged is none (nil): the mark alone judges.
func readSeen(path string) map[string]uint64 {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return parseSeen(raw)
}

// parseSeen decodes the file of the last commit's values (nil: damaged).
func parseSeen(raw []byte) map[string]uint64 {
	if len(raw) > 4096 {
		return nil
	}
	// The file is written over in place, not truncated: what follows
	// the first CRC line is what an earlier, longer write left.
	end := bytes.Index(raw, []byte("\ncrc "))
	if end < 0 || !bytes.HasPrefix(raw, []byte(seenHeader)) || len(raw) < end+1+len("crc 01234567\n") {
		return nil
	}
	end++
	line := raw[end : end+len("crc 01234567\n")]
	sum, err := strconv.ParseUint(string(line[4:12]), 16, 32)
	if err != nil || line[12] != '\n' || uint32(sum) != crc32.ChecksumIEEE(raw[:end]) {
		return nil
	}
	seen := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(raw[len(seenHeader):end]))
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.ParseUint(v, 10, 64)
		if !ok || err != nil || name == "" {
			return nil
		}
		seen[name] = n
	}
	return seen
}

// encodeSeen is the file of the last commit's values.
func encodeSeen(seen map[string]uint64) []byte {
	b := []byte(seenHeader)
	for _, name := range slices.Sorted(maps.Keys(seen)) {
		b = fmt.Appendf(b, "%s %d\n", name, seen[name])
	}
	return fmt.Appendf(b, "crc %08x\n", crc32.ChecksumIEEE(b))
}

// note keeps value v of counter name that transaction tx takes, to be
// written next to the mark once tx commits.
func (c *counterMark) note(tx *bolt.Tx, name string, v uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pendTx != tx {
		pend := map[string]uint64{}
		c.pendTx, c.pend = tx, pend
		tx.OnCommit(func() {
			c.mu.Lock()
			if c.pendTx == tx {
				c.pendTx, c.pend = nil, nil
			}
			c.mu.Unlock()
			c.writeSeen(pend)
		})
	}
	c.pend[name] = max(c.pend[name], v)
}

// writeSeen takes up's values (never lowering one) and writes the file,
// without fsync. It is best effort: a write that fails leaves the file
// older, which only makes the next Open judge by the mark.
func (c *counterMark) writeSeen(up map[string]uint64) {
	c.seenMu.Lock()
	defer c.seenMu.Unlock()
	if c.seen == nil {
		c.seen = map[string]uint64{}
	}
	for name, v := range up {
		c.seen[name] = max(c.seen[name], v)
	}
	// Written over in place: truncating first would have some file
	// systems (ext4's auto_da_alloc) flush the file at close.
	f, err := os.OpenFile(c.seenPath, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	f.WriteAt(encodeSeen(c.seen), 0)
	f.Close()
}

// save writes the mark with the entries of up changed, then takes them in
// memory. Callers hold the database's write transaction, so saves do not
// interleave.
func (c *counterMark) save(up map[string]markEntry) error {
	c.mu.Lock()
	next := maps.Clone(c.m)
	c.mu.Unlock()
	maps.Copy(next, up)
	if err := durable.WriteJSON(c.path, markFile{Counters: next}, 0o600); err != nil {
		return fmt.Errorf("store: counters' mark: %w", err)
	}
	c.mu.Lock()
	c.m = next
	c.writes++
	c.mu.Unlock()
	return nil
}

func (c *counterMark) snapshot() map[string]markEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m
}

func (c *counterMark) get(name string) (markEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[name]
	return e, ok
}

// use makes sure the mark covers value v of counter name before t
// commits; before is the value the database holds. The mark is written
// once, at the end of the transaction (Do), for all the counters that
// need it.
func (t *Tx) use(name string, before, v uint64) {
	if t.mark == nil {
		return
	}
	t.mark.note(t.tx, name, v)
	cur, _ := t.mark.get(name)
	if p, ok := t.raise[name]; ok {
		cur = p
	} else {
		cur.Low = before
	}
	if v <= cur.Max {
		return
	}
	reserve := t.mark.reserve
	if name == CounterBatch {
		// A batch closes once a day or so: the mark follows it exactly,
		// and a stop that is not clean skips no batch number.
		reserve = 1
	}
	cur.Max = v - 1 + reserve
	if t.raise == nil {
		t.raise = map[string]markEntry{}
	}
	t.raise[name] = cur
}

// saveMark writes what use asked for, before the transaction commits.
func (t *Tx) saveMark() error {
	if len(t.raise) == 0 {
		return nil
	}
	return t.mark.save(t.raise)
}

// batchLinear is the count of closes with batch number n nearest to near.
func batchLinear(n uint32, near uint64) uint64 {
	if n == 0 || n > batchWrap {
		n = 1
	}
	best := (near/batchWrap)*batchWrap + uint64(n)
	if best > batchWrap && dist(best-batchWrap, near) < dist(best, near) {
		best -= batchWrap
	}
	if dist(best+batchWrap, near) < dist(best, near) {
		best += batchWrap
	}
	return best
}

func dist(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// batchNumber is the batch number of a count of closes.
func batchNumber(lin uint64) uint32 { return uint32((lin-1)%batchWrap + 1) }

// counterValue reads counter name from the database (0: never taken);
// the batch's as a count near ref.
func counterValue(tx *bolt.Tx, name string, ref uint64) (uint64, error) {
	switch name {
	case CounterIDs:
		return tx.Bucket(bucketTxns).Sequence(), nil
	case CounterBatch:
		return batchLinear((&Tx{tx: tx}).OpenBatch(), ref), nil
	}
	switch v := tx.Bucket(bucketCounters).Get([]byte(name)); len(v) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(v), nil
	default:
		return 0, fmt.Errorf("%w: counter %s holds %d bytes", ErrDamaged, name, len(v))
	}
}

func setCounter(tx *bolt.Tx, name string, v uint64) error {
	switch name {
	case CounterIDs:
		return tx.Bucket(bucketTxns).SetSequence(v)
	case CounterBatch:
		return tx.Bucket(bucketCounters).Put(keyBatch, binary.BigEndian.AppendUint64(nil, uint64(batchNumber(v))))
	}
	return tx.Bucket(bucketCounters).Put([]byte(name), binary.BigEndian.AppendUint64(nil, v))
}

// shown is value v of counter name as the host and the slips show it.
func shown(name string, v uint64) uint64 {
	switch {
	case v == 0 || name == CounterIDs:
		return v
	case name == CounterBatch:
		return uint64(batchNumber(v))
	}
	return (v-1)%batchWrap + 1
}

// counterNames are the counters the mark covers: those the database has
// and those the mark has.
func counterNames(tx *bolt.Tx, m map[string]markEntry) []string {
	names := map[string]bool{CounterIDs: true, CounterBatch: true}
	tx.Bucket(bucketCounters).ForEach(func(k, _ []byte) error {
		names[string(k)] = true
		return nil
	})
	for k := range m {
		names[k] = true
	}
	return slices.Sorted(maps.Keys(names))
}

// reconcile brings the database and the mark together at Open: counters
// behind the mark are moved to it (d.moved says which, and whether the
// database was an older copy); the mark takes counters it does not have,
// or has lower (a mark from before this one, or replaced), from the
// database.
func (d *DB) reconcile(log *slog.Logger) error {
	c := d.mark
	up := map[string]markEntry{}
	var moved []CounterMove
	now := map[string]uint64{}
	err := d.bolt.Update(func(tx *bolt.Tx) error {
		moved = nil
		clear(up)
		clear(now)
		m := c.snapshot()
		c.fresh = freshDB(tx)
		for _, name := range counterNames(tx, m) {
			e, known := m[name]
			cur, err := counterValue(tx, name, e.Max)
			if err != nil {
				return err
			}
			now[name] = max(cur, e.Max)
			switch {
			case !known || cur > e.Max:
				up[name] = markEntry{Max: cur, Low: cur}
				if known && log != nil {
					log.Warn("the counters' mark was behind the database: it was replaced or restored; taking the database's",
						"counter", name, "mark", shown(name, e.Max), "database", shown(name, cur))
				}
			case cur < e.Max:
				if err := setCounter(tx, name, e.Max); err != nil {
					return err
				}
				// Below the mark's Low, or below what the last commit
				// left: older than a database posd had. A new database
				// is not a copy.
				behind := !c.fresh && (cur < e.Low || cur < c.seen[name])
				moved = append(moved, CounterMove{Counter: name, From: shown(name, cur), To: shown(name, e.Max), Behind: behind})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.moved = moved
	if err := c.save(up); err != nil {
		return err
	}
	// From now on the last commit's values are this database's.
	c.seenMu.Lock()
	c.seen = nil
	c.seenMu.Unlock()
	c.writeSeen(now)
	return nil
}

// freshDB reports whether the database has never taken a counter value:
// no record id, no counter, batch 1 open.
func freshDB(tx *bolt.Tx) bool {
	if tx.Bucket(bucketTxns).Sequence() != 0 {
		return false
	}
	c := tx.Bucket(bucketCounters).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if !bytes.Equal(k, keyBatch) || !bytes.Equal(v, binary.BigEndian.AppendUint64(nil, 1)) {
			return false
		}
	}
	return true
}

// exactMark lowers the mark to the values the database holds, at a clean
// Close: in a write transaction, so that no commit comes between.
func (d *DB) exactMark() error {
	return d.bolt.Update(func(tx *bolt.Tx) error {
		up := map[string]markEntry{}
		m := d.mark.snapshot()
		for _, name := range counterNames(tx, m) {
			e := m[name]
			cur, err := counterValue(tx, name, e.Max)
			if err != nil {
				return err
			}
			up[name] = markEntry{Max: cur, Low: cur}
		}
		return d.mark.save(up)
	})
}
