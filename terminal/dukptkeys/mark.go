package dukptkeys

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"posd/crypto/dukpt"
	"posd/terminal/durable"
)

// Mark keeps, outside the database, the highest KSN counter that may have
// been used under each initial KSN. It survives the loss of the database
// (and with it of the originator state), so that a lost or stale state
// refuses to transact instead of handing out a KSN a second time.
type Mark interface {
	// Load returns the counters of slot by key serial number base (the
	// initial KSN with its counter bits cleared, upper-case hex).
	Load(slot string) (map[string]uint32, error)
	// Save records counter for base in slot durably before returning.
	Save(slot, base string, counter uint32) error
}

// Reserve is how far ahead of the KSN in use the mark is written: one
// durable write of the mark covers Reserve transactions. After a crash the
// originator skips what was reserved (DUKPT allows skipping KSNs, never
// reusing one).
const Reserve = 50

// FileMark is a Mark in a small JSON file (mode 0600), replaced durably on
// every Save.
type FileMark struct {
	Path string
	mu   sync.Mutex
}

type markFile struct {
	// Slots: slot name -> KSN base -> highest counter possibly used.
	Slots map[string]map[string]uint32 `json:"slots"`
}

func (f *FileMark) read() (markFile, error) {
	var m markFile
	_, err := durable.ReadJSON(f.Path, &m)
	if errors.Is(err, durable.ErrUnreadable) {
		return m, fmt.Errorf("%w: %s is unreadable; restore it from a backup (it is what stops KSN reuse)", ErrMark, f.Path)
	}
	if err != nil {
		return m, fmt.Errorf("dukptkeys: KSN mark: %w", err)
	}
	if m.Slots == nil {
		m.Slots = map[string]map[string]uint32{}
	}
	return m, nil
}

// Load implements Mark.
func (f *FileMark) Load(slot string) (map[string]uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, err := f.read()
	if err != nil {
		return nil, err
	}
	out := map[string]uint32{}
	for k, v := range m.Slots[slot] {
		out[k] = v
	}
	return out, nil
}

// Save implements Mark.
func (f *FileMark) Save(slot, base string, counter uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, err := f.read()
	if err != nil {
		return err
	}
	if m.Slots[slot] == nil {
		m.Slots[slot] = map[string]uint32{}
	}
	m.Slots[slot][base] = counter
	if err := durable.WriteJSON(f.Path, m, 0o600); err != nil {
		return fmt.Errorf("dukptkeys: KSN mark: %w", err)
	}
	return nil
}

// ksnBase splits a KSN into its base (counter bits cleared, upper-case
// hex) and counter: 21 bits of a 10-byte TDES KSN, 32 bits of a 12-byte
// AES KSN.
func ksnBase(ksn []byte) (string, uint32, error) {
	b, c, err := dukpt.SplitKSN(ksn)
	if err != nil {
		return "", 0, err
	}
	return strings.ToUpper(hex.EncodeToString(b)), c, nil
}
