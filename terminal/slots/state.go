package slots

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// SchemaVersion is the layout of the state file this build writes. Files
// of a newer version are refused (ErrSchema).
const SchemaVersion = 1

// SlotState is what a slot holds.
type SlotState string

// Slot states.
const (
	// SlotEmpty: nothing was ever installed.
	SlotEmpty SlotState = "empty"
	// SlotInstalling: an install began and has not finished; if it is not
	// running, it was interrupted. Never booted.
	SlotInstalling SlotState = "installing"
	// SlotInstalled: a complete image whose hash matched; not yet booted
	// (or on trial).
	SlotInstalled SlotState = "installed"
	// SlotGood: the image was committed at some point (the committed slot,
	// or the previous version kept in the other slot).
	SlotGood SlotState = "good"
	// SlotBad: the install failed, the trial failed, or the content was
	// found damaged. Never booted again; the next install overwrites it.
	SlotBad SlotState = "bad"
)

// Limits of the decoded state; a file beyond them is ErrDamaged.
const (
	maxName      = 64
	maxVersion   = 128
	maxReason    = 512
	maxBootLimit = 100
)

// SlotInfo describes one slot.
type SlotInfo struct {
	Name    string    `json:"name"`
	State   SlotState `json:"state"`
	Version string    `json:"version,omitempty"`
	// SHA256 is the hex hash of the image installed (or being installed).
	SHA256 string `json:"sha256,omitempty"`
	// Size is the image size in bytes, 0 when unknown.
	Size    int64     `json:"size,omitempty"`
	Updated time.Time `json:"updated"`
}

// Trial is a pending trial: the slot the next boots start, until it is
// committed or rolled back.
type Trial struct {
	Slot    string `json:"slot"`
	Version string `json:"version"`
	// Boots is the number of trial boots so far; Max the number allowed
	// before Booted rolls back by itself.
	Boots int       `json:"boots"`
	Max   int       `json:"max"`
	Since time.Time `json:"since"`
}

// state is the one record of the state bucket.
type state struct {
	Slots     []SlotInfo `json:"slots"`
	Committed string     `json:"committed,omitempty"`
	Trial     *Trial     `json:"trial,omitempty"`
	// MaxTrialBoots is copied into each new Trial.
	MaxTrialBoots int `json:"max_trial_boots"`
	// Seq is the number of the last history event.
	Seq uint64 `json:"seq"`
}

// EventKind names a history event.
type EventKind string

// History events.
const (
	EventProvision     EventKind = "provision"      // first image, committed directly (or the booted slot adopted)
	EventInstallStart  EventKind = "install-start"  // the inactive slot is being overwritten
	EventInstall       EventKind = "install"        // complete and hash-verified
	EventInstallFailed EventKind = "install-failed" // Reason says why; the slot is bad
	EventTrial         EventKind = "trial"          // TryNext: the next boot starts the slot
	EventBoot          EventKind = "boot"           // a trial boot (Boot is its number)
	EventCommit        EventKind = "commit"         // the trial slot is now the committed one
	EventRollback      EventKind = "rollback"       // back to the committed slot; Reason says why
)

// Event is one line of the history.
type Event struct {
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	Kind    EventKind `json:"kind"`
	Slot    string    `json:"slot,omitempty"`
	Version string    `json:"version,omitempty"`
	// From is the version that ran before (commit, rollback).
	From   string `json:"from,omitempty"`
	Boot   int    `json:"boot,omitempty"`
	Reason string `json:"reason,omitempty"`
}

func (s *state) slot(name string) *SlotInfo {
	for i := range s.Slots {
		if s.Slots[i].Name == name {
			return &s.Slots[i]
		}
	}
	return nil
}

// other is the slot that is not name.
func (s *state) other(name string) *SlotInfo {
	for i := range s.Slots {
		if s.Slots[i].Name != name {
			return &s.Slots[i]
		}
	}
	return nil
}

// active is the slot the next start runs: the trial slot when a trial is
// pending, else the committed one ("" before provisioning).
func (s *state) active() string {
	if s.Trial != nil {
		return s.Trial.Slot
	}
	return s.Committed
}

func (s *state) clone() state {
	c := *s
	c.Slots = append([]SlotInfo(nil), s.Slots...)
	if s.Trial != nil {
		t := *s.Trial
		c.Trial = &t
	}
	return c
}

// encodeState is the inverse of decodeState.
func encodeState(s *state) ([]byte, error) { return json.Marshal(s) }

// decodeState parses the state record read back from the file and checks
// every invariant; names are the slot names the caller expects (nil: any
// two). Errors wrap ErrDamaged (or ErrSlotNames).
func decodeState(b []byte, names []string) (*state, error) {
	var s state
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: state record: %v", ErrDamaged, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: state record: trailing data", ErrDamaged)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	if names != nil && (s.Slots[0].Name != names[0] || s.Slots[1].Name != names[1]) {
		return nil, fmt.Errorf("%w: file has %q and %q, expected %q and %q",
			ErrSlotNames, s.Slots[0].Name, s.Slots[1].Name, names[0], names[1])
	}
	return &s, nil
}

func (s *state) validate() error {
	if len(s.Slots) != 2 {
		return fmt.Errorf("%d slots, want 2", len(s.Slots))
	}
	for i := range s.Slots {
		if err := s.Slots[i].validate(); err != nil {
			return fmt.Errorf("slot %d: %v", i, err)
		}
	}
	if s.Slots[0].Name == s.Slots[1].Name {
		return fmt.Errorf("both slots are named %q", s.Slots[0].Name)
	}
	if s.MaxTrialBoots < 1 || s.MaxTrialBoots > maxBootLimit {
		return fmt.Errorf("max trial boots %d out of 1..%d", s.MaxTrialBoots, maxBootLimit)
	}
	if s.Committed != "" {
		c := s.slot(s.Committed)
		if c == nil {
			return fmt.Errorf("committed slot %q unknown", s.Committed)
		}
		if c.State != SlotGood {
			return fmt.Errorf("committed slot %q is %s, not good", s.Committed, c.State)
		}
	}
	if t := s.Trial; t != nil {
		if s.Committed == "" {
			return fmt.Errorf("trial without a committed slot")
		}
		ts := s.slot(t.Slot)
		if ts == nil || t.Slot == s.Committed {
			return fmt.Errorf("trial slot %q is not the inactive slot", t.Slot)
		}
		if ts.State != SlotInstalled {
			return fmt.Errorf("trial slot %q is %s, not installed", t.Slot, ts.State)
		}
		if t.Version != ts.Version {
			return fmt.Errorf("trial version %q differs from the slot's %q", t.Version, ts.Version)
		}
		if t.Max < 1 || t.Max > maxBootLimit || t.Boots < 0 || t.Boots > t.Max {
			return fmt.Errorf("trial boots %d of %d out of range", t.Boots, t.Max)
		}
	}
	return nil
}

func (si *SlotInfo) validate() error {
	if err := checkText("name", si.Name, maxName); err != nil {
		return err
	}
	if si.Name == "" {
		return fmt.Errorf("empty name")
	}
	if err := checkText("version", si.Version, maxVersion); err != nil {
		return err
	}
	if si.Size < 0 {
		return fmt.Errorf("negative size")
	}
	switch si.State {
	case SlotEmpty:
		if si.Version != "" || si.SHA256 != "" {
			return fmt.Errorf("empty slot %q with an image", si.Name)
		}
	case SlotInstalling, SlotInstalled, SlotGood, SlotBad:
		// A good slot adopted from the boot loader and a bad one may lack
		// a hash; images installed here always have one.
		if si.State == SlotInstalling || si.State == SlotInstalled || si.SHA256 != "" {
			if _, err := parseSum(si.SHA256); err != nil {
				return fmt.Errorf("slot %q: %v", si.Name, err)
			}
		}
	default:
		return fmt.Errorf("slot %q has unknown state %q", si.Name, si.State)
	}
	return nil
}

// encodeEvent is the inverse of decodeEvent.
func encodeEvent(e Event) ([]byte, error) { return json.Marshal(e) }

// decodeEvent parses one history record. Errors wrap ErrDamaged.
func decodeEvent(b []byte) (Event, error) {
	var e Event
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Event{}, fmt.Errorf("%w: history record: %v", ErrDamaged, err)
	}
	if dec.More() {
		return Event{}, fmt.Errorf("%w: history record: trailing data", ErrDamaged)
	}
	switch e.Kind {
	case EventProvision, EventInstallStart, EventInstall, EventInstallFailed,
		EventTrial, EventBoot, EventCommit, EventRollback:
	default:
		return Event{}, fmt.Errorf("%w: history record: unknown kind %q", ErrDamaged, e.Kind)
	}
	for _, f := range []struct {
		n, v string
		max  int
	}{{"slot", e.Slot, maxName}, {"version", e.Version, maxVersion}, {"from", e.From, maxVersion}, {"reason", e.Reason, maxReason}} {
		if err := checkText(f.n, f.v, f.max); err != nil {
			return Event{}, fmt.Errorf("%w: history record: %v", ErrDamaged, err)
		}
	}
	return e, nil
}

// checkText accepts printable UTF-8 of at most max bytes.
func checkText(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%s longer than %d bytes", what, max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not UTF-8", what)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s has a control character", what)
		}
	}
	return nil
}

// parseSum checks a hex SHA-256.
func parseSum(s string) ([32]byte, error) {
	var sum [32]byte
	if len(s) != 64 {
		return sum, fmt.Errorf("sha256 %q is not 64 hex digits", s)
	}
	if _, err := hex.Decode(sum[:], []byte(s)); err != nil {
		return sum, fmt.Errorf("sha256 is not hex: %v", err)
	}
	return sum, nil
}
