// Package shred seals records that must be erasable: an offline
// approval's card data, kept until the host acknowledges its advice.
//
// bbolt never overwrites a page in place: a deleted or rewritten value
// stays in the file's freed pages until the space happens to be reused.
// A record sealed under a long-lived key could therefore be recovered,
// and opened, long after it was deleted. Here every record is sealed
// under its own random key (AES-256-GCM, crypto/sealbox), and that key
// is kept, wrapped under the caller's key (itself wrapped under the device
// KEK), in one slot of a small fixed-size file that is overwritten in
// place and synced. Erasing a record zeroes its slot: whatever copies of
// the ciphertext remain, in freed pages or backups, are noise (a
// cryptographic erase, NIST SP 800-88).
//
// The slot file: a 16-byte header ("posdshr1", the slot count as a
// big-endian uint32, 4 bytes zero) then SlotSize bytes per slot: state
// (0 free, 1 used), an 8-byte random tag, and the record key sealed under
// the wrapping key bound to the slot's index and tag; zeros when free.
//
// A sealed record: version (02) || slot (big-endian uint32) || tag (8
// bytes) || the sealbox record of the data under the record key.
// Records of version 01 are plain sealbox records under the wrapping key
// (what earlier firmware kept); they open, and there is no key of theirs
// to erase.
//
// Crash safety: Seal writes and syncs the slot before it returns, so a
// record committed by the caller always has its key; a slot whose record
// never got committed (a crash in between), or whose record was deleted
// but not yet erased, is found by Keep, which the caller runs at start
// with the records it still holds.
//
// Limits: the erase relies on the file system overwriting the slot's
// block in place, as ext4 and the like do for a rewrite of allocated
// blocks; a flash translation layer may keep the old block until it is
// garbage-collected, below what software can reach.
package shred

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"syscall"

	"posd/crypto/sealbox"
	"posd/terminal/durable"
)

const (
	magic      = "posdshr1"
	headerSize = 16
	tagSize    = 8
	// SlotSize is the size of one slot in the file.
	SlotSize = 80
	// wrappedSize is a record key sealed under the wrapping key.
	wrappedSize = sealbox.KeySize + sealbox.Overhead

	version = 0x02
	// legacyVersion marks a plain sealbox record under the wrapping key.
	legacyVersion = 0x01
	// RecordOverhead is what sealing adds to a record.
	RecordOverhead = 1 + 4 + tagSize + sealbox.Overhead

	stateFree = 0x00
	stateUsed = 0x01
)

// DefaultSlots is the slot count of a new file: more records than the
// risk rules let a terminal hold offline.
const DefaultSlots = 1024

// Opts configure a Ring. The zero value is valid.
type Opts struct {
	// Slots is the slot count of a file Open creates (DefaultSlots when
	// 0); an existing file keeps its own.
	Slots int
	// Rand gives keys, tags and nonces (crypto/rand when nil).
	Rand io.Reader
}

// Ring seals records under per-record keys kept in a slot file. It is
// safe for concurrent use.
type Ring struct {
	path string
	wrap *sealbox.Box
	rand io.Reader

	mu   sync.Mutex
	f    *os.File
	used []bool
	tags [][tagSize]byte
	next int // where the search for a free slot starts
}

// Open opens the slot file at path, creating it (durably, every slot
// free) when it does not exist; a link or anything but a regular file at
// path is ErrFile. A slot a power cut left half erased is erased. wrap seals the record keys: the caller
// keeps its key wrapped under the device KEK.
func Open(path string, wrap *sealbox.Box, opts *Opts) (*Ring, error) {
	if opts == nil {
		opts = &Opts{}
	}
	n := opts.Slots
	if n <= 0 {
		n = DefaultSlots
	}
	rnd := opts.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		buf := make([]byte, headerSize+n*SlotSize)
		copy(buf, magic)
		binary.BigEndian.PutUint32(buf[8:], uint32(n))
		if err := durable.WriteFile(path, buf, 0o600); err != nil {
			return nil, fmt.Errorf("shred: creating %s: %w", path, err)
		}
	case err != nil:
		return nil, fmt.Errorf("shred: %w", err)
	case !fi.Mode().IsRegular():
		return nil, notRegular(path, fi.Mode())
	}
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	r := &Ring{path: path, wrap: wrap, rand: rnd, f: f}
	if err := r.load(); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// load reads the header and every slot's state and tag.
func (r *Ring) load() error {
	b, err := io.ReadAll(r.f)
	if err != nil {
		return fmt.Errorf("shred: reading %s: %w", r.path, err)
	}
	if len(b) < headerSize || string(b[:8]) != magic {
		return fmt.Errorf("%w: %s has no header", ErrFile, r.path)
	}
	n := int(binary.BigEndian.Uint32(b[8:]))
	if n <= 0 || n > 1<<20 || len(b) != headerSize+n*SlotSize {
		return fmt.Errorf("%w: %s holds %d bytes for %d slots", ErrFile, r.path, len(b), n)
	}
	r.used, r.tags = make([]bool, n), make([][tagSize]byte, n)
	var torn []int
	for i := range n {
		s := b[headerSize+i*SlotSize:][:SlotSize]
		switch s[0] {
		case stateFree:
			if !allZero(s) {
				torn = append(torn, i)
			}
		case stateUsed:
			r.used[i] = true
			copy(r.tags[i][:], s[1:])
		default:
			return fmt.Errorf("%w: slot %d of %s in state %#x", ErrFile, i, r.path, s[0])
		}
	}
	clear(b)
	// A power cut during an erase (or a seal) can leave a slot half
	// written: marked free with key bytes still on disk. Its record is
	// erased or was never committed; finish the erase.
	for _, i := range torn {
		if _, err := r.f.WriteAt(make([]byte, SlotSize), int64(headerSize+i*SlotSize)); err != nil {
			return fmt.Errorf("shred: erasing torn slot %d: %w", i, err)
		}
	}
	if len(torn) > 0 {
		if err := r.f.Sync(); err != nil {
			return fmt.Errorf("shred: erasing torn slots: %w", err)
		}
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// openRegular opens path for reading and writing, refusing anything but
// a regular file: a link put where the slot file was is not followed
// (Wipe would zero, and Seal write into, the file it names).
func openRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, notRegular(path, fs.ModeSymlink)
	}
	if err != nil {
		return nil, fmt.Errorf("shred: %w", err)
	}
	st, err := f.Stat()
	switch {
	case err != nil:
	case !st.Mode().IsRegular():
		err = notRegular(path, st.Mode())
	case st.Mode().Perm()&0o077 != 0:
		// The wrapped record keys are the owner's alone, whatever mode
		// a copy of the file came with.
		err = f.Chmod(st.Mode().Perm() & 0o700)
	}
	if err != nil {
		f.Close()
		if !errors.Is(err, ErrFile) {
			err = fmt.Errorf("shred: %w", err)
		}
		return nil, err
	}
	return f, nil
}

func notRegular(path string, m fs.FileMode) error {
	return fmt.Errorf("%w: %s is not a regular file (%v): posd neither reads nor writes through it; "+
		"remove it (the records sealed under it no longer open)", ErrFile, path, m.Type())
}

// String describes the ring without secrets.
func (r *Ring) String() string {
	return fmt.Sprintf("shred ring %s: %d of %d slots used", r.path, r.Used(), r.Slots())
}

// Slots is the slot count.
func (r *Ring) Slots() int { return len(r.used) }

// Used counts the slots holding a live key.
func (r *Ring) Used() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, u := range r.used {
		if u {
			n++
		}
	}
	return n
}

// Full reports whether no slot is free: the next Seal fails with ErrFull.
func (r *Ring) Full() bool { return r.Used() == r.Slots() }

// Close closes the slot file.
func (r *Ring) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

func slotAD(i int, tag []byte) []byte {
	return append([]byte("posd shred slot "+strconv.Itoa(i)+" "), tag...)
}

// Seal seals plain bound to ad under a new key, kept in a free slot that
// is on disk before Seal returns. Errors: ErrFull.
func (r *Ring) Seal(plain, ad []byte) ([]byte, error) {
	key := make([]byte, sealbox.KeySize)
	defer clear(key)
	var tag [tagSize]byte
	if _, err := io.ReadFull(r.rand, key); err != nil {
		return nil, fmt.Errorf("shred: drawing a key: %w", err)
	}
	if _, err := io.ReadFull(r.rand, tag[:]); err != nil {
		return nil, fmt.Errorf("shred: drawing a tag: %w", err)
	}
	box, err := sealbox.New(key, r.rand)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil, fmt.Errorf("shred: %w", os.ErrClosed)
	}
	i := r.free()
	if i < 0 {
		return nil, fmt.Errorf("%w: all %d in use", ErrFull, len(r.used))
	}
	wrapped, err := r.wrap.Seal(key, slotAD(i, tag[:]))
	if err != nil {
		return nil, err
	}
	slot := make([]byte, SlotSize)
	slot[0] = stateUsed
	copy(slot[1:], tag[:])
	copy(slot[1+tagSize:], wrapped)
	if err := r.write(i, slot); err != nil {
		return nil, err
	}
	r.used[i], r.tags[i], r.next = true, tag, (i+1)%len(r.used)
	sealed, err := box.Seal(plain, ad)
	if err != nil {
		_ = r.eraseLocked(i)
		return nil, err
	}
	out := make([]byte, 0, 1+4+tagSize+len(sealed))
	out = append(out, version)
	out = binary.BigEndian.AppendUint32(out, uint32(i))
	out = append(out, tag[:]...)
	return append(out, sealed...), nil
}

// free finds a free slot, starting after the last one taken so that a
// slot just erased is reused last.
func (r *Ring) free() int {
	n := len(r.used)
	for k := range n {
		if i := (r.next + k) % n; !r.used[i] {
			return i
		}
	}
	return -1
}

// write puts one slot on disk, synced.
func (r *Ring) write(i int, slot []byte) error {
	if _, err := r.f.WriteAt(slot, int64(headerSize+i*SlotSize)); err != nil {
		return fmt.Errorf("shred: writing slot %d: %w", i, err)
	}
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("shred: syncing slot %d: %w", i, err)
	}
	return nil
}

// parse splits a record of this package.
func (r *Ring) parse(sealed []byte) (i int, tag []byte, body []byte, err error) {
	if len(sealed) < 1+4+tagSize || sealed[0] != version {
		return 0, nil, nil, ErrRecord
	}
	i = int(binary.BigEndian.Uint32(sealed[1:]))
	if i >= len(r.used) {
		return 0, nil, nil, fmt.Errorf("%w: slot %d of %d", ErrRecord, i, len(r.used))
	}
	return i, sealed[5 : 5+tagSize], sealed[5+tagSize:], nil
}

// Open opens a record Seal made (or a version 01 record sealed directly
// under the wrapping key). Errors: ErrErased when its key is gone,
// sealbox.ErrOpen when it was changed or bound to another ad, ErrRecord.
func (r *Ring) Open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) > 0 && sealed[0] == legacyVersion {
		return r.wrap.Open(sealed, ad)
	}
	r.mu.Lock()
	if r.f == nil {
		r.mu.Unlock()
		return nil, fmt.Errorf("shred: %w", os.ErrClosed)
	}
	i, tag, body, err := r.parse(sealed)
	if err != nil {
		r.mu.Unlock()
		return nil, err
	}
	if !r.used[i] || !bytes.Equal(r.tags[i][:], tag) {
		r.mu.Unlock()
		return nil, ErrErased
	}
	slot := make([]byte, SlotSize)
	_, err = r.f.ReadAt(slot, int64(headerSize+i*SlotSize))
	r.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("shred: reading slot %d: %w", i, err)
	}
	key, err := r.wrap.Open(slot[1+tagSize:1+tagSize+wrappedSize], slotAD(i, tag))
	clear(slot)
	if err != nil {
		return nil, fmt.Errorf("%w: the key of slot %d does not unwrap", ErrFile, i)
	}
	defer clear(key)
	box, err := sealbox.New(key, r.rand)
	if err != nil {
		return nil, err
	}
	return box.Open(body, ad)
}

// Erase overwrites the key of sealed with zeros, synced: no copy of the
// record opens again. A record already erased, or of version 01, is left
// as it is; a slot reused since by another record is not touched.
func (r *Ring) Erase(sealed []byte) error {
	if len(sealed) > 0 && sealed[0] == legacyVersion {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return fmt.Errorf("shred: %w", os.ErrClosed)
	}
	i, tag, _, err := r.parse(sealed)
	if err != nil {
		return err
	}
	if !r.used[i] || !bytes.Equal(r.tags[i][:], tag) {
		return nil
	}
	return r.eraseLocked(i)
}

func (r *Ring) eraseLocked(i int) error {
	if err := r.write(i, make([]byte, SlotSize)); err != nil {
		return err
	}
	r.used[i], r.tags[i] = false, [tagSize]byte{}
	return nil
}

// Keep erases every used slot that none of live (the records the caller
// still holds) names: the keys of records whose commit a crash prevented,
// or whose erase a crash interrupted. It returns how many it erased.
func (r *Ring) Keep(live [][]byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, fmt.Errorf("shred: %w", os.ErrClosed)
	}
	keep := make([]bool, len(r.used))
	for _, s := range live {
		if i, tag, _, err := r.parse(s); err == nil && bytes.Equal(r.tags[i][:], tag) {
			keep[i] = true
		}
	}
	n := 0
	for i, u := range r.used {
		if u && !keep[i] {
			if err := r.eraseLocked(i); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// Wipe overwrites every slot of the file at path with zeros, synced, and
// removes it (a factory reset): no record sealed under it opens again. A
// missing file is not an error; a link or anything but a regular file at
// path is ErrFile, and what it names is left alone.
func Wipe(path string) error {
	f, err := openRegular(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err == nil {
		_, err = f.WriteAt(make([]byte, st.Size()), 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("shred: wiping %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("shred: %w", err)
	}
	return nil
}
