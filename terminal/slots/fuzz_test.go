package slots

import (
	"bytes"
	"errors"
	"testing"
)

func seedStates(f *testing.F) {
	_, i1 := mkImage("1", 10)
	_, i2 := mkImage("2", 10)
	good := func(n string, im Image) SlotInfo {
		return SlotInfo{Name: n, State: SlotGood, Version: im.Version, SHA256: im.SHA256, Size: im.Size, Updated: t0}
	}
	for _, st := range []state{
		{Slots: []SlotInfo{{Name: "a", State: SlotEmpty}, {Name: "b", State: SlotEmpty}}, MaxTrialBoots: 3},
		{Slots: []SlotInfo{good("a", i1), {Name: "b", State: SlotInstalling, Version: "2", SHA256: i2.SHA256}}, Committed: "a", MaxTrialBoots: 3, Seq: 4},
		{Slots: []SlotInfo{good("a", i1), {Name: "b", State: SlotInstalled, Version: "2", SHA256: i2.SHA256}}, Committed: "a",
			Trial: &Trial{Slot: "b", Version: "2", Boots: 1, Max: 3, Since: t0}, MaxTrialBoots: 3, Seq: 9},
		{Slots: []SlotInfo{{Name: "a", State: SlotBad, Version: "1"}, good("b", i2)}, Committed: "b", MaxTrialBoots: 1},
	} {
		b, err := encodeState(&st)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"slots":[{"name":"a","state":"good"},{"name":"a","state":"good"}],"committed":"a","max_trial_boots":3}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(``))
}

// FuzzDecodeState feeds arbitrary bytes as the state record read back from
// bbolt: never a panic; an error is ErrDamaged; what decodes satisfies the
// invariants and survives a round trip.
func FuzzDecodeState(f *testing.F) {
	seedStates(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeState(b, nil)
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("error %v is not ErrDamaged", err)
			}
			return
		}
		if err := st.validate(); err != nil {
			t.Fatalf("decoded an invalid state: %v", err)
		}
		if a := st.active(); st.Committed != "" && st.slot(a) == nil {
			t.Fatalf("active slot %q unknown", a)
		}
		e1, err := encodeState(st)
		if err != nil {
			t.Fatal(err)
		}
		st2, err := decodeState(e1, []string{st.Slots[0].Name, st.Slots[1].Name})
		if err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		e2, _ := encodeState(st2)
		if !bytes.Equal(e1, e2) {
			t.Fatalf("round trip differs:\n%s\n%s", e1, e2)
		}
	})
}

// FuzzDecodeEvent does the same for history records.
func FuzzDecodeEvent(f *testing.F) {
	for _, e := range []Event{
		{Seq: 1, At: t0, Kind: EventProvision, Slot: "a", Version: "1"},
		{Seq: 7, At: t0, Kind: EventRollback, Slot: "a", Version: "1", From: "2", Boot: 3, Reason: "3 trial boots without a commit"},
	} {
		b, _ := encodeEvent(e)
		f.Add(b)
	}
	f.Add([]byte(`{"kind":"nope"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEvent(b)
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("error %v is not ErrDamaged", err)
			}
			return
		}
		e1, _ := encodeEvent(e)
		e2, err := decodeEvent(e1)
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		if b2, _ := encodeEvent(e2); !bytes.Equal(e1, b2) {
			t.Fatalf("round trip differs:\n%s\n%s", e1, b2)
		}
	})
}
