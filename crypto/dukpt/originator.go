package dukpt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/bits"
	"sync"
)

// Originator is the transaction-originating side of DUKPT (the PIN pad):
// it holds the standard's register set, never the initial key, and hands
// out one key per transaction.
//
// A terminal calls Next, persists MarshalBinary's result (wrapped under the
// device key) before it uses the key, and on restart resumes with
// UnmarshalOriginator, so that no key is ever used twice.
type Originator interface {
	// Next advances to the next valid KSN and returns it with the key of
	// that new current transaction (TDES: before variants; AES: the
	// derivation key for that counter, input to AESWorkingKey). Both
	// slices are new and owned by the caller. Once the counter space is
	// used up it returns ErrExhausted, and ErrState after Wipe.
	Next() (ksn, txnKey []byte, err error)
	// KSN returns a copy of the current KSN (the initial KSN before the
	// first Next).
	KSN() []byte
	// MarshalBinary returns the full state: KSN, registers and a checksum.
	// It contains key material.
	MarshalBinary() ([]byte, error)
	// Wipe zeroes all key material; the originator is unusable after.
	Wipe()
}

// engine is the register machine shared by both flavours. Register j holds
// the key of the counter made of the current counter's bits above j plus
// bit j, for every j the next transactions may still need; the register of
// a transaction is erased when it is handed out.
type engine struct {
	mode   byte
	spec   counterSpec
	keyLen int
	ksn    []byte
	regs   [][]byte
	wiped  bool
	// counter access and child key derivation for the flavour
	get   func(ksn []byte) uint32
	set   func(ksn []byte, c uint32)
	child func(parent, ksn []byte, counter uint32) []byte
}

const (
	modeTDES = 1
	modeAES  = 2
)

func (e *engine) init(ik []byte) {
	e.regs = make([][]byte, e.spec.bits)
	for j := range e.regs {
		e.regs[j] = e.child(ik, e.ksn, 1<<j)
	}
}

func (e *engine) next() ([]byte, []byte, error) {
	if e.wiped || e.get == nil {
		return nil, nil, fmt.Errorf("%w: wiped or not initialised", ErrState)
	}
	c := e.get(e.ksn)
	n64, ok := e.spec.next(uint64(c))
	if !ok {
		e.wipeRegs()
		return nil, nil, fmt.Errorf("%w: after counter %X", ErrExhausted, c)
	}
	n := uint32(n64)
	k := bits.TrailingZeros32(n)
	key := e.regs[k]
	if key == nil {
		return nil, nil, fmt.Errorf("%w: register %d empty", ErrState, k)
	}
	e.regs[k] = nil
	ksn := bytes.Clone(e.ksn)
	e.set(ksn, n)
	more := bits.OnesCount32(n) < e.spec.maxOnes
	for j := 0; j < k; j++ {
		if e.regs[j] != nil {
			wipe(e.regs[j])
			e.regs[j] = nil
		}
		if more {
			e.regs[j] = e.child(key, ksn, n|1<<j)
		}
	}
	e.ksn = ksn
	return bytes.Clone(ksn), key, nil
}

func (e *engine) currentKSN() []byte {
	return bytes.Clone(e.ksn)
}

func (e *engine) wipeRegs() {
	for j, r := range e.regs {
		if r != nil {
			wipe(r)
			e.regs[j] = nil
		}
	}
}

func (e *engine) wipe() {
	e.wipeRegs()
	e.wiped = true
}

// expectedMask is the set of registers an originator holds at counter c.
func (e *engine) expectedMask(c uint32) uint32 {
	if _, ok := e.spec.next(uint64(c)); !ok {
		return 0
	}
	all := uint32(uint64(1)<<e.spec.bits - 1)
	if c == 0 {
		return all
	}
	m := all &^ c
	if bits.OnesCount32(c) >= e.spec.maxOnes {
		m &^= 1<<bits.TrailingZeros32(c) - 1
	}
	return m
}

// State layout (all integers big-endian):
//
//	"DKPT" | version 1 | mode (1 TDES, 2 AES) | key length | KSN length |
//	KSN | register mask (uint32) | one key per mask bit, lowest first |
//	CRC-32 (IEEE) of everything before
const (
	stateMagic   = "DKPT"
	stateVersion = 1
	stateHeader  = len(stateMagic) + 4
)

func (e *engine) marshal() ([]byte, error) {
	if e.wiped || e.get == nil {
		return nil, fmt.Errorf("%w: wiped or not initialised", ErrState)
	}
	var mask uint32
	for j, r := range e.regs {
		if r != nil {
			mask |= 1 << j
		}
	}
	out := make([]byte, 0, stateHeader+len(e.ksn)+4+bits.OnesCount32(mask)*e.keyLen+4)
	out = append(out, stateMagic...)
	out = append(out, stateVersion, e.mode, byte(e.keyLen), byte(len(e.ksn)))
	out = append(out, e.ksn...)
	out = binary.BigEndian.AppendUint32(out, mask)
	for _, r := range e.regs {
		if r != nil {
			out = append(out, r...)
		}
	}
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out)), nil
}

// unmarshal fills e (mode, spec, keyLen and functions already set) from a
// state; it checks everything before touching e.
func (e *engine) unmarshal(state []byte) error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrState, why) }
	if len(state) < stateHeader+4 || string(state[:4]) != stateMagic {
		return bad("not an originator state")
	}
	if state[4] != stateVersion {
		return bad(fmt.Sprintf("unknown version %d", state[4]))
	}
	if state[5] != e.mode {
		return bad(fmt.Sprintf("mode %d, want %d", state[5], e.mode))
	}
	keyLen, ksnLen := int(state[6]), int(state[7])
	if keyLen != e.keyLen && !(e.mode == modeAES && (keyLen == 16 || keyLen == 24 || keyLen == 32)) {
		return bad(fmt.Sprintf("key length %d", keyLen))
	}
	wantKSN := TDESKSNLen
	if e.mode == modeAES {
		wantKSN = AESKSNLen
	}
	if ksnLen != wantKSN {
		return bad(fmt.Sprintf("KSN length %d", ksnLen))
	}
	body := state[:len(state)-4]
	if crc32.ChecksumIEEE(body) != binary.BigEndian.Uint32(state[len(state)-4:]) {
		return bad("checksum mismatch")
	}
	p := body[stateHeader:]
	if len(p) < ksnLen+4 {
		return bad("truncated")
	}
	ksn := bytes.Clone(p[:ksnLen])
	if err := ValidateKSN(ksn); err != nil {
		return fmt.Errorf("%w: %w", ErrState, err)
	}
	mask := binary.BigEndian.Uint32(p[ksnLen:])
	p = p[ksnLen+4:]
	if mask != e.expectedMask(e.get(ksn)) {
		return bad("register set does not match the counter")
	}
	if len(p) != bits.OnesCount32(mask)*keyLen {
		return bad("wrong length")
	}
	regs := make([][]byte, e.spec.bits)
	for j := range regs {
		if mask&(1<<j) != 0 {
			regs[j] = bytes.Clone(p[:keyLen])
			p = p[keyLen:]
		}
	}
	e.keyLen, e.ksn, e.regs = keyLen, ksn, regs
	return nil
}

// TDESOriginator is the X9.24-1:2009 originating device: 21 future key
// registers and the 21-bit encryption counter. Safe for concurrent use.
type TDESOriginator struct {
	mu sync.Mutex
	e  engine
}

func newTDESEngine() engine {
	return engine{mode: modeTDES, spec: tdesSpec, keyLen: TDESKeyLen,
		get: tdesCounter, set: tdesSetCounter, child: tdesChildKey}
}

// NewTDESOriginator loads the initial key ik (16 bytes) and the initial KSN
// (10 bytes, counter zero) and fills the future key registers. The caller
// should erase its own copy of ik afterwards; the originator keeps none.
func NewTDESOriginator(ik, iksn []byte) (*TDESOriginator, error) {
	if len(ik) != TDESKeyLen {
		return nil, fmt.Errorf("%w: TDES IK must be %d bytes, got %d", ErrKeyLength, TDESKeyLen, len(ik))
	}
	if err := checkTDESKSN(iksn); err != nil {
		return nil, err
	}
	if tdesCounter(iksn) != 0 {
		return nil, fmt.Errorf("%w: initial KSN % X has a non-zero counter", ErrState, iksn)
	}
	o := &TDESOriginator{e: newTDESEngine()}
	o.e.ksn = bytes.Clone(iksn)
	o.e.init(ik)
	return o, nil
}

// Next implements Originator.
func (o *TDESOriginator) Next() (ksn, txnKey []byte, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.e.next()
}

// KSN implements Originator.
func (o *TDESOriginator) KSN() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.e.currentKSN()
}

// MarshalBinary implements Originator and encoding.BinaryMarshaler.
func (o *TDESOriginator) MarshalBinary() ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.e.marshal()
}

// UnmarshalBinary restores a state written by MarshalBinary.
func (o *TDESOriginator) UnmarshalBinary(state []byte) error {
	e := newTDESEngine()
	if err := e.unmarshal(state); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.e.wipe()
	o.e = e
	return nil
}

// Wipe implements Originator.
func (o *TDESOriginator) Wipe() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.e.wipe()
}

// AESOriginator is the X9.24-3:2017 originating device: 32 intermediate
// derivation key registers and the 32-bit transaction counter. Safe for
// concurrent use.
type AESOriginator struct {
	mu sync.Mutex
	e  engine
}

func newAESEngine(keyLen int) engine {
	return engine{mode: modeAES, spec: aesSpec, keyLen: keyLen,
		get: aesCounter, set: aesSetCounter, child: aesChildKey}
}

// NewAESOriginator loads an AES initial key (16, 24 or 32 bytes) and the
// initial KSN (12 bytes with counter zero, or the 8-byte IK ID) and fills
// the intermediate derivation key registers. The caller should erase its
// own copy of ik afterwards; the originator keeps none.
func NewAESOriginator(ik, iksn []byte) (*AESOriginator, error) {
	if _, err := aesKeyType(len(ik)); err != nil {
		return nil, err
	}
	if err := checkAESKSN(iksn); err != nil {
		return nil, err
	}
	ksn := make([]byte, AESKSNLen)
	copy(ksn, iksn)
	if aesCounter(ksn) != 0 {
		return nil, fmt.Errorf("%w: initial KSN % X has a non-zero counter", ErrState, iksn)
	}
	o := &AESOriginator{e: newAESEngine(len(ik))}
	o.e.ksn = ksn
	o.e.init(ik)
	return o, nil
}

// Next implements Originator.
func (o *AESOriginator) Next() (ksn, txnKey []byte, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.e.next()
}

// KSN implements Originator.
func (o *AESOriginator) KSN() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.e.currentKSN()
}

// KeyType is the type of the derivation keys (that of the initial key).
func (o *AESOriginator) KeyType() KeyType {
	o.mu.Lock()
	defer o.mu.Unlock()
	kt, _ := aesKeyType(o.e.keyLen)
	return kt
}

// MarshalBinary implements Originator and encoding.BinaryMarshaler.
func (o *AESOriginator) MarshalBinary() ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.e.marshal()
}

// UnmarshalBinary restores a state written by MarshalBinary.
func (o *AESOriginator) UnmarshalBinary(state []byte) error {
	e := newAESEngine(0)
	if err := e.unmarshal(state); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.e.wipe()
	o.e = e
	return nil
}

// Wipe implements Originator.
func (o *AESOriginator) Wipe() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.e.wipe()
}

// UnmarshalOriginator restores a TDES or AES originator from the bytes of
// its MarshalBinary. Anything malformed, corrupted or inconsistent gives
// ErrState.
func UnmarshalOriginator(state []byte) (Originator, error) {
	if len(state) < stateHeader {
		return nil, fmt.Errorf("%w: not an originator state", ErrState)
	}
	switch state[5] {
	case modeTDES:
		o := new(TDESOriginator)
		if err := o.UnmarshalBinary(state); err != nil {
			return nil, err
		}
		return o, nil
	case modeAES:
		o := new(AESOriginator)
		if err := o.UnmarshalBinary(state); err != nil {
			return nil, err
		}
		return o, nil
	}
	return nil, fmt.Errorf("%w: unknown mode", ErrState)
}

var (
	_ Originator = (*TDESOriginator)(nil)
	_ Originator = (*AESOriginator)(nil)
)
