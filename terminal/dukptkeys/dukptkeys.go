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

	"go.etcd.io/bbolt"
)

// Errors of the key source. All of them mean the terminal cannot
// transact until a key custodian acts: they are fatal for a sale.
var (
	// ErrNotProvisioned: no initial key has been loaded into the slot.
	ErrNotProvisioned = errors.New("dukptkeys: no DUKPT key loaded")
	// ErrStateLost: the slot has no originator state although the KSN
	// mark says KSNs were used in it: the state was lost with a damaged or
	// replaced database. Loading the same initial key again would reuse
	// KSNs; a new initial key (new KSN) must be loaded.
	ErrStateLost = errors.New("dukptkeys: DUKPT key state lost")
	// ErrKSNReuse: loading this initial key would hand out KSNs that were
	// already used (the mark has its KSN base).
	ErrKSNReuse = errors.New("dukptkeys: this initial KSN was already used on this terminal")
	// ErrMark: the KSN mark file is unreadable.
	ErrMark = errors.New("dukptkeys: KSN mark damaged")
)

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
	slot    string
	name    string
	missing func(error) bool
	mark    Mark
	// reserved is the counter the mark covers for base (0: not known yet).
	base     string
	reserved uint32
	// cur is the originator, loaded from the key store on first use and
	// kept: it is always at or ahead of the stored state (Prepare advances
	// it before its state is committed), so two sessions never share a
	// KSN; the mark covers what the stored state may lag behind.
	cur dukpt.Originator
}

// New returns the source for the key slot named slot (e.g. "dukpt.0").
// missing tells which errors of the key store mean "no such secret".
func New(s Secrets, mode wiresec.Mode, slot string, missing func(error) bool) *Source {
	return &Source{secrets: s, mode: mode, slot: slot, name: slot + ".state", missing: missing}
}

// SetMark attaches the KSN high-water mark. Call it before the first use,
// then Check.
func (s *Source) SetMark(m Mark) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mark = m
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
	defer func() {
		if o != nil {
			o.Wipe()
		}
	}()
	if u, ok := s.secrets.(Updater); ok {
		// The database first, then the source (the order of Next and
		// Pending.Save): the new state is stored and takes the old one's
		// place in one step no other write can come between.
		var old dukpt.Originator
		swapped := false
		err := u.Update(func(tx *bbolt.Tx) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			if err := s.markLoad(o); err != nil {
				return err
			}
			st, err := o.MarshalBinary()
			if err != nil {
				return err
			}
			defer clear(st)
			if err := u.PutSecretTx(tx, s.name, st); err != nil {
				return err
			}
			old, s.cur, o, swapped = s.cur, o, nil, true
			return nil
		})
		s.mu.Lock()
		defer s.mu.Unlock()
		switch {
		case err != nil && swapped:
			// Not committed: the old state stays.
			o, s.cur = s.cur, old
		case old != nil:
			old.Wipe()
		}
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.markLoad(o); err != nil {
		return err
	}
	if err := s.save(o); err != nil {
		return err
	}
	if s.cur != nil {
		s.cur.Wipe()
	}
	s.cur, o = o, nil
	return nil
}

// markLoad records a newly loaded originator's KSN base in the mark,
// refusing a base already used. Caller holds s.mu.
func (s *Source) markLoad(o dukpt.Originator) error {
	if s.mark != nil {
		base, c, err := ksnBase(o.KSN())
		if err != nil {
			return err
		}
		used, err := s.mark.Load(s.slot)
		if err != nil {
			return err
		}
		if last, ok := used[base]; ok {
			return fmt.Errorf("%w: KSN base %s was used up to counter %d; load an initial key with a new KSN", ErrKSNReuse, base, last)
		}
		if err := s.mark.Save(s.slot, base, c); err != nil {
			return err
		}
		s.base, s.reserved = base, c
	}
	return nil
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
	if s.cur == nil {
		err := s.secrets.UseSecret(s.name, func(st []byte) error {
			o, err := dukpt.UnmarshalOriginator(st)
			if err != nil {
				return err
			}
			s.cur = o
			return nil
		})
		if err != nil && s.missing != nil && s.missing(err) {
			if s.mark != nil {
				used, merr := s.mark.Load(s.slot)
				if merr != nil {
					return merr
				}
				for base, c := range used {
					return fmt.Errorf("%w: KSNs of base %s were used up to counter %d but the slot holds no state; "+
						"a key custodian must load a new initial key (with a new KSN)", ErrStateLost, base, c)
				}
			}
			return fmt.Errorf("%w: %w", ErrNotProvisioned, err)
		}
		if err != nil {
			return err
		}
	}
	return fn(s.cur)
}

// Wipe forgets the originator held in memory (it is loaded again on the
// next use).
func (s *Source) Wipe() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		s.cur.Wipe()
		s.cur = nil
	}
}

// Check reconciles the stored state with the KSN mark at start-up. With no
// state, it reports ErrStateLost when the mark shows KSNs were used (else
// ErrNotProvisioned). With a state behind the mark (a crash inside a
// reservation, or a database restored from an older backup), it advances
// the originator past every KSN the mark says may have been used and
// stores it. A state the mark does not know yet (a database from before
// the mark existed) is recorded in the mark. Next does the same on its
// first use when Check was not called.
func (s *Source) Check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.with(func(o dukpt.Originator) error {
		if s.mark == nil {
			return nil
		}
		return s.reconcile(o)
	})
}

// reconcile brings o past the mark of its KSN base and remembers how far
// the mark reaches. Caller holds s.mu.
func (s *Source) reconcile(o dukpt.Originator) error {
	base, c, err := ksnBase(o.KSN())
	if err != nil {
		return err
	}
	used, err := s.mark.Load(s.slot)
	if err != nil {
		return err
	}
	last, ok := used[base]
	if !ok || last <= c {
		if err := s.mark.Save(s.slot, base, c); err != nil {
			return err
		}
		s.base, s.reserved = base, c
		return nil
	}
	for c < last {
		_, key, err := o.Next()
		clear(key)
		if err != nil {
			return fmt.Errorf("dukptkeys: skipping past used KSNs: %w", err)
		}
		if _, c, err = ksnBase(o.KSN()); err != nil {
			return err
		}
	}
	if err := s.save(o); err != nil {
		return err
	}
	s.base, s.reserved = base, last
	return nil
}

// Park lowers the mark to the KSN in use at a clean shutdown, so the next
// start does not skip the KSNs reserved ahead. Every KSN used is at or
// below the stored state's, so the mark stays an upper bound.
func (s *Source) Park() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mark == nil {
		return nil
	}
	return s.with(func(o dukpt.Originator) error {
		base, c, err := ksnBase(o.KSN())
		if err != nil {
			return err
		}
		if base != s.base {
			// Not reconciled in this process: the state may be behind
			// the mark, which must then stay where it is.
			return nil
		}
		// The state in memory may be ahead of the stored one (a prepared
		// session whose sale never committed): store it first.
		if err := s.save(o); err != nil {
			return err
		}
		if err := s.mark.Save(s.slot, base, c); err != nil {
			return err
		}
		s.reserved = c
		return nil
	})
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
//
// A transaction that stores a prepared state (Pending.Save) holds the
// database and then takes the source's lock, so Next never holds the
// source while it waits for the database: see storeCurrent.
func (s *Source) Next() (*wiresec.Session, error) {
	sess, err := s.advance()
	if err != nil {
		return nil, err
	}
	if err := s.storeCurrent(); err != nil {
		sess.Wipe()
		return nil, err
	}
	return sess, nil
}

// Updater is a key store whose database transactions the source can run
// (keystore.Store).
type Updater interface {
	TxSecrets
	Update(fn func(tx *bbolt.Tx) error) error
}

// storeCurrent stores the originator's current state. With an Updater the
// database is taken first and the source's lock inside it, the order
// Pending.Save takes, so every write stores the newest state. Otherwise a
// copy made under the lock is stored after it: a copy stored behind a
// newer one only puts the stored state behind, which the mark covers (it
// is written before any KSN is used; Check skips past it).
func (s *Source) storeCurrent() error {
	snapshot := func() ([]byte, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.cur == nil {
			return nil, fmt.Errorf("%w: the state was wiped", ErrNotProvisioned)
		}
		return s.cur.MarshalBinary()
	}
	if u, ok := s.secrets.(Updater); ok {
		return u.Update(func(tx *bbolt.Tx) error {
			st, err := snapshot()
			if err != nil {
				return err
			}
			defer clear(st)
			return u.PutSecretTx(tx, s.name, st)
		})
	}
	st, err := snapshot()
	if err != nil {
		return err
	}
	defer clear(st)
	return s.secrets.PutSecret(s.name, st)
}

// advance moves the originator in memory to the next KSN, the mark on disk
// covering it first, and returns that KSN's session.
func (s *Source) advance() (*wiresec.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sess *wiresec.Session
	err := s.with(func(o dukpt.Originator) error {
		if s.mark != nil {
			if base, _, err := ksnBase(o.KSN()); err != nil {
				return err
			} else if base != s.base {
				if err := s.reconcile(o); err != nil {
					return err
				}
			}
		}
		ksn, key, err := o.Next()
		if err != nil {
			return err
		}
		defer clear(key)
		if s.mark != nil {
			// The mark covers this KSN on disk before the KSN is used.
			base, c, err := ksnBase(ksn)
			if err != nil {
				return err
			}
			if c > s.reserved {
				if err := s.mark.Save(s.slot, base, c+Reserve); err != nil {
					return err
				}
				s.base, s.reserved = base, c+Reserve
			}
		}
		sess, err = wiresec.ForTerminal(s.mode, ksn, key)
		return err
	})
	if err != nil {
		return nil, err
	}
	return sess, nil
}

// TxSecrets is the part of the key store that writes inside the caller's
// bbolt transaction (keystore.Store.PutSecretTx).
type TxSecrets interface {
	PutSecretTx(tx *bbolt.Tx, name string, data []byte) error
}

// Pending is a session whose originator state is not stored yet: the
// caller stores it with Save inside the transaction that commits the
// record using the KSN, so the sale needs one commit, not two. Until then
// the KSN is covered by the mark (written before Prepare returns); a crash
// before Save makes the next start skip it, never reuse it.
type Pending struct {
	src  *Source
	Sess *wiresec.Session
}

// Prepare advances to the next KSN (the mark first covers it on disk) and
// returns its session, leaving the state to be stored with Pending.Save.
func (s *Source) Prepare() (*Pending, error) {
	if _, ok := s.secrets.(TxSecrets); !ok {
		return nil, fmt.Errorf("dukptkeys: the key store cannot write in a transaction")
	}
	sess, err := s.advance()
	if err != nil {
		return nil, err
	}
	return &Pending{src: s, Sess: sess}, nil
}

// Save stores the originator state (at or ahead of this session's KSN) in
// tx. The caller wipes the session when done with it.
func (p *Pending) Save(tx *bbolt.Tx) error {
	s := p.src
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return fmt.Errorf("%w: the state was wiped", ErrNotProvisioned)
	}
	st, err := s.cur.MarshalBinary()
	if err != nil {
		return err
	}
	defer clear(st)
	return s.secrets.(TxSecrets).PutSecretTx(tx, s.name, st)
}
