// Package dukptkeys is the terminal's DUKPT originator at rest: the
// originator state (future key registers for TDES, intermediate derivation
// keys for AES, and the counter) lives wrapped under the device KEK in the
// key store, never the initial key. Each call to Next advances the
// originator, writes the new state (fsync) and only then hands out the
// session of the new KSN, so a crash can skip a KSN but never reuse one.
package dukptkeys

import (
	"errors"
	"fmt"
	"sync"

	"posd/crypto/dukpt"
	"posd/terminal/wiresec"
)

// ErrNotProvisioned: no initial key has been loaded into the slot.
var ErrNotProvisioned = errors.New("dukptkeys: no DUKPT key loaded")

// Secrets is the part of the key store this package uses: opaque secrets
// wrapped under the device KEK.
type Secrets interface {
	PutSecret(name string, data []byte) error
	UseSecret(name string, fn func(data []byte) error) error
}

// Source yields one wire-security session per transaction.
type Source struct {
	mu      sync.Mutex
	secrets Secrets
	mode    wiresec.Mode
	name    string
	missing func(error) bool
}

// New returns the source for the key slot named slot (e.g. "dukpt.0").
// missing tells which errors of the key store mean "no such secret".
func New(s Secrets, mode wiresec.Mode, slot string, missing func(error) bool) *Source {
	return &Source{secrets: s, mode: mode, name: slot + ".state", missing: missing}
}

// Mode is the slot's DUKPT mode.
func (s *Source) Mode() wiresec.Mode { return s.mode }

// Load provisions the slot from an initial key and initial KSN (loaded by a
// key custodian), replacing whatever was there. ik is not kept.
func (s *Source) Load(ik, iksn []byte) error {
	var (
		o   dukpt.Originator
		err error
	)
	switch s.mode {
	case wiresec.ModeTDES:
		o, err = dukpt.NewTDESOriginator(ik, iksn)
	case wiresec.ModeAES:
		o, err = dukpt.NewAESOriginator(ik, iksn)
	default:
		err = fmt.Errorf("dukptkeys: unknown mode %q", s.mode)
	}
	if err != nil {
		return err
	}
	defer o.Wipe()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.save(o)
}

// LoadFromBDK derives the initial key from a BDK and loads it. Only test
// terminals do this: a real terminal never sees a BDK.
func (s *Source) LoadFromBDK(bdk, iksn []byte) error {
	var (
		ik  []byte
		err error
	)
	if s.mode == wiresec.ModeTDES {
		ik, err = dukpt.TDESDeriveIK(bdk, iksn)
	} else {
		ik, err = dukpt.AESDeriveIK(bdk, iksn)
	}
	if err != nil {
		return err
	}
	defer clear(ik)
	return s.Load(ik, iksn)
}

func (s *Source) save(o dukpt.Originator) error {
	st, err := o.MarshalBinary()
	if err != nil {
		return err
	}
	defer clear(st)
	return s.secrets.PutSecret(s.name, st)
}

func (s *Source) with(fn func(dukpt.Originator) error) error {
	err := s.secrets.UseSecret(s.name, func(st []byte) error {
		o, err := dukpt.UnmarshalOriginator(st)
		if err != nil {
			return err
		}
		defer o.Wipe()
		return fn(o)
	})
	if err != nil && s.missing != nil && s.missing(err) {
		return fmt.Errorf("%w: %w", ErrNotProvisioned, err)
	}
	return err
}

// KSN returns the current KSN in upper-case hex (not secret).
func (s *Source) KSN() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var k string
	err := s.with(func(o dukpt.Originator) error {
		k = fmt.Sprintf("%X", o.KSN())
		return nil
	})
	return k, err
}

// Next advances to the next KSN, persists the state, and returns the
// session for that KSN. The caller must Wipe the session.
func (s *Source) Next() (*wiresec.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sess *wiresec.Session
	err := s.with(func(o dukpt.Originator) error {
		ksn, key, err := o.Next()
		if err != nil {
			return err
		}
		defer clear(key)
		if err := s.save(o); err != nil {
			return err
		}
		sess, err = wiresec.ForTerminal(s.mode, ksn, key)
		return err
	})
	if err != nil {
		return nil, err
	}
	return sess, nil
}
