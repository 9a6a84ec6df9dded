package keyload

import (
	"testing"

	"posd/terminal/wiresec"
)

// usedMark is a KSN mark that says KSNs of a base were used: with no
// state in the slot, the DUKPT state is lost (as after a factory reset).
type usedMark struct{}

func (usedMark) Load(string) (map[string]uint32, error) {
	return map[string]uint32{"123456789012345600000000": 7}, nil
}
func (usedMark) Save(string, string, uint32) error { return nil }

// TestKCVsWithTheDUKPTStateLost: the listing still shows the keys there
// are (the new KBPK's KCV, which the custodian checks before loading an
// initial key under it), and the DUKPT slot as lost, instead of failing.
func TestKCVsWithTheDUKPTStateLost(t *testing.T) {
	l := newLoader(t, wiresec.ModeAES)
	l.DUKPT.SetMark(usedMark{})
	kcv, err := l.LoadKBPK('A', h(t, aesA), h(t, aesB))
	if err != nil {
		t.Fatal(err)
	}
	infos, err := l.KCVs()
	if err != nil {
		t.Fatalf("KCVs with the DUKPT state lost: %v", err)
	}
	if len(infos) != 2 || infos[0].Name != KBPKName || infos[0].KCV != kcv ||
		infos[1].Name != "dukpt" || infos[1].State != StateLost || infos[1].KSN != "" || infos[1].KCV != "" {
		t.Fatalf("KCVs %+v", infos)
	}
}
