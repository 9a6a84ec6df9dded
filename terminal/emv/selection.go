package emv

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"sort"
)

var (
	pseName  = []byte("1PAY.SYS.DDF01")
	ppseName = []byte("2PAY.SYS.DDF01")
)

// candidate is an application found on the card that the terminal
// accepts.
type candidate struct {
	adf      []byte // ADF name (the card's DF name)
	label    string
	priority byte // 87 as the card gives it
	aidIndex int  // index in Config.AIDs
	kernel   int  // contactless kernel
	extSel   []byte
	order    int
}

func (c *candidate) rank() int {
	if p := int(c.priority & 0x0F); p != 0 {
		return p
	}
	return 16
}

// errSelectNext is returned inside the kernel when the selected
// application refuses the transaction (GET PROCESSING OPTIONS 6985):
// selection goes on with the next candidate.
var errSelectNext = errors.New("emv: select next")

// selectName sends SELECT by name; next asks for the next occurrence.
func (st *txnState) selectName(step string, name []byte, next bool) ([]byte, uint16, error) {
	p2 := byte(0x00)
	if next {
		p2 = 0x02
	}
	return st.send(step, 0x00, 0xA4, 0x04, p2, name, case4)
}

// fci is what the kernel reads from a File Control Information template.
type fci struct {
	dfName   []byte
	sfi      byte // PSE directory SFI (88)
	objs     []tlvObject
	label    string
	priority byte
}

// parseFCI reads a 6F template: 84 is mandatory, A5 holds the rest.
func parseFCI(data []byte) (*fci, error) {
	o, err := single(data, 0x6F, "FCI")
	if err != nil {
		return nil, err
	}
	f := &fci{objs: o.children}
	df, ok := find(o.children, 0x84)
	if !ok || len(df.value) < 5 || len(df.value) > 16 {
		return nil, fmt.Errorf("%w: FCI without a DF name of 5 to 16 bytes", ErrFormat)
	}
	f.dfName = df.value
	a5, ok := find(o.children, 0xA5)
	if !ok {
		return nil, fmt.Errorf("%w: FCI without a proprietary template", ErrFormat)
	}
	if v, ok := find(a5.children, 0x88); ok {
		if len(v.value) != 1 {
			return nil, fmt.Errorf("%w: SFI of %d bytes", ErrFormat, len(v.value))
		}
		f.sfi = v.value[0]
	}
	if v, ok := find(a5.children, 0x50); ok {
		f.label = printableString(v.value)
	}
	if v, ok := find(a5.children, 0x87); ok && len(v.value) == 1 {
		f.priority = v.value[0]
	}
	return f, nil
}

func printableString(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c >= 0x20 && c < 0x7F {
			out = append(out, c)
		}
	}
	return string(out)
}

// matchAID returns the index of the terminal AID the card's ADF name
// matches on the contact interface, or -1: the AID equal to it, else the
// longest AID it extends with partial selection allowed (the first
// configured of equal length). Book 1 section 12.3 does not say which
// of several matching terminal AIDs gives the parameters; the most
// specific one is the one configured for that application, so a short
// AID (a RID alone) configured first never takes over a longer one.
func (st *txnState) matchAID(adf []byte) int {
	return matchAIDs(st.cfg.AIDs, adf, func(a *AIDParams) (bool, bool) { return a.Contact, a.PartialSelection })
}

// matchAIDs is the AID matching of both interfaces: ok says whether an
// AID takes part and whether it matches by prefix.
func matchAIDs(aids []AIDParams, adf []byte, ok func(*AIDParams) (use, partial bool)) int {
	best := -1
	for i := range aids {
		a := &aids[i]
		use, partial := ok(a)
		switch {
		case !use:
		case bytes.Equal(adf, a.AID):
			return i
		case partial && len(adf) > len(a.AID) && bytes.HasPrefix(adf, a.AID) && (best < 0 || len(a.AID) > len(aids[best].AID)):
			best = i
		}
	}
	return best
}

// addCandidate adds a candidate unless its ADF name is already there.
func (st *txnState) addCandidate(c candidate) {
	for _, x := range st.cands {
		if bytes.Equal(x.adf, c.adf) {
			return
		}
	}
	c.order = len(st.cands)
	st.cands = append(st.cands, c)
}

func (st *txnState) sortCandidates() {
	aids := st.cfg.AIDs
	sort.SliceStable(st.cands, func(i, j int) bool {
		a, b := &st.cands[i], &st.cands[j]
		if a.rank() != b.rank() {
			return a.rank() < b.rank()
		}
		if pa, pb := aids[a.aidIndex].Priority, aids[b.aidIndex].Priority; pa != pb {
			return pa < pb
		}
		return a.order < b.order
	})
}

// removeCandidate drops the selected candidate after it failed.
func (st *txnState) removeCandidate(c *candidate) {
	for i := range st.cands {
		if bytes.Equal(st.cands[i].adf, c.adf) {
			st.cands = append(st.cands[:i], st.cands[i+1:]...)
			return
		}
	}
}

// buildContactCandidates builds the candidate list of book 1 section
// 12.3: the PSE directory when the terminal and the card support it, else
// the list of AIDs. It returns the number of blocked applications seen.
func (st *txnState) buildContactCandidates() (blocked int, err error) {
	if st.cfg.Terminal.PSE {
		if err := st.readPSE(); err != nil {
			return 0, err
		}
		if len(st.cands) > 0 {
			return 0, nil
		}
	}
	for i := range st.cfg.AIDs {
		a := &st.cfg.AIDs[i]
		if !a.Contact {
			continue
		}
		for n := 0; n < maxGetResponse; n++ {
			data, sw, err := st.selectName("SELECT AID", a.AID, n > 0)
			if err != nil {
				return 0, err
			}
			if sw == 0x6A81 && n == 0 {
				return 0, fmt.Errorf("%w: SELECT %X", ErrCardBlocked, a.AID)
			}
			if sw != 0x9000 && sw != 0x6283 {
				break
			}
			f, err := parseFCI(data)
			if err != nil {
				st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: bad FCI", slog.String("aid", fmt.Sprintf("%X", a.AID)), slog.String("error", err.Error()))
				break
			}
			exact := bytes.Equal(f.dfName, a.AID)
			partial := len(f.dfName) > len(a.AID) && bytes.HasPrefix(f.dfName, a.AID)
			if exact || partial && a.PartialSelection {
				if sw == 0x6283 {
					blocked++
				} else {
					// The parameters are those of the AID the DF name
					// matches best: another terminal AID may equal it.
					st.addCandidate(candidate{adf: bytes.Clone(f.dfName), label: f.label, priority: f.priority, aidIndex: st.matchAID(f.dfName)})
				}
			}
			// Book 1 section 12.3.3: only a DF name longer than the
			// AID, with partial selection allowed, asks for the next
			// occurrence (step 7); an exact match, or an AID without
			// partial selection, goes on with the next AID (steps 4-6).
			if exact || !a.PartialSelection {
				break
			}
		}
	}
	return blocked, nil
}

// readPSE reads the payment system directory (book 1 section 12.3.2).
// A PSE that is missing or unreadable leaves the candidate list empty,
// and selection falls back to the list of AIDs; a blocked card ends it.
func (st *txnState) readPSE() error {
	data, sw, err := st.selectName("SELECT PSE", pseName, false)
	if err != nil {
		return err
	}
	if sw == 0x6A81 {
		return fmt.Errorf("%w: SELECT PSE", ErrCardBlocked)
	}
	if sw != 0x9000 {
		return nil
	}
	// Book 1 section 12.2.3: the directory of the PSE has an SFI of 1
	// to 10; a PSE naming another SFI is unusable, like one that is
	// missing.
	f, err := parseFCI(data)
	if err != nil || f.sfi < 1 || f.sfi > 10 {
		return nil
	}
	for rec := 1; rec <= 255; rec++ {
		data, sw, err := st.send("READ RECORD PSE", 0x00, 0xB2, byte(rec), f.sfi<<3|4, nil, case2)
		if err != nil {
			return err
		}
		if sw == 0x6A83 {
			break
		}
		if sw != 0x9000 {
			st.cands = nil
			return nil
		}
		// Padding after the template is no data (see recordBody).
		o, err := single(recordBody(data), 0x70, "PSE record")
		if err != nil {
			st.cands = nil
			return nil
		}
		for _, e := range o.children {
			if e.tag != 0x61 {
				continue
			}
			adf, ok := find(e.children, 0x4F)
			if !ok || len(adf.value) < 5 || len(adf.value) > 16 {
				continue
			}
			idx := st.matchAID(adf.value)
			if idx < 0 {
				continue
			}
			c := candidate{adf: bytes.Clone(adf.value), aidIndex: idx}
			if v, ok := find(e.children, 0x50); ok {
				c.label = printableString(v.value)
			}
			if v, ok := find(e.children, 0x87); ok && len(v.value) == 1 {
				c.priority = v.value[0]
			}
			st.addCandidate(c)
		}
	}
	return nil
}

// chooseContact picks the application (book 1 section 12.4), asking the
// cardholder when the terminal supports it and there is a choice or the
// card asks for confirmation, then selects it finally. It loops over the
// candidates until one answers SELECT with a usable FCI.
func (st *txnState) chooseContact(blocked int) error {
	for {
		if !st.cfg.Terminal.CardholderSelection {
			kept := st.cands[:0]
			for _, c := range st.cands {
				if c.priority&0x80 == 0 {
					kept = append(kept, c)
				}
			}
			st.cands = kept
		}
		if len(st.cands) == 0 {
			if blocked > 0 {
				return fmt.Errorf("%w: %d blocked", ErrAppBlocked, blocked)
			}
			return ErrNoApplication
		}
		st.sortCandidates()
		pick := 0
		if st.cfg.Terminal.CardholderSelection && (len(st.cands) > 1 || st.cands[0].priority&0x80 != 0) {
			list := make([]Candidate, len(st.cands))
			for i, c := range st.cands {
				list[i] = Candidate{AID: bytes.Clone(c.adf), Label: c.label, Priority: int(c.priority & 0x0F), ConfirmationRequired: c.priority&0x80 != 0}
			}
			n, err := st.ui.Select(st.ctx, list)
			if err != nil {
				return cancelled("application selection", err)
			}
			if n < 0 || n >= len(st.cands) {
				return fmt.Errorf("%w: application selection: index %d of %d", ErrCancelled, n, len(st.cands))
			}
			pick = n
		}
		c := st.cands[pick]
		data, sw, err := st.selectName("SELECT ADF", c.adf, false)
		if err != nil {
			return err
		}
		if sw == 0x6283 {
			blocked++
		}
		var f *fci
		if sw == 0x9000 {
			if f, err = parseFCI(data); err == nil && !bytes.Equal(f.dfName, c.adf) {
				err = fmt.Errorf("%w: DF name differs from the ADF selected", ErrFormat)
			}
		} else {
			err = statusErr("SELECT ADF", sw)
		}
		if err != nil {
			st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: candidate refused", slog.String("aid", fmt.Sprintf("%X", c.adf)), slog.String("error", err.Error()))
			st.removeCandidate(&c)
			st.ui.Message(st.ctx, MsgTryAgain)
			continue
		}
		st.selected(&c, f)
		return nil
	}
}

// selected records the final selection: the FCI's objects become card
// data and the AID's parameters apply.
func (st *txnState) selected(c *candidate, f *fci) {
	st.sel = c
	st.icc = map[tag][]byte{}
	storeAll(st.icc, f.objs)
	st.icc[0x84] = bytes.Clone(f.dfName)
	if st.icc[0x4F] == nil {
		st.icc[0x4F] = bytes.Clone(c.adf)
	}
	st.useAID(&st.cfg.AIDs[c.aidIndex])
	st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: selected", slog.String("aid", fmt.Sprintf("%X", c.adf)), logObjects("fci", f.objs))
}

// storeAll stores every primitive object (later ones win).
func storeAll(m map[tag][]byte, objs []tlvObject) {
	for _, o := range objs {
		if o.tag.constructed() {
			storeAll(m, o.children)
			continue
		}
		m[o.tag] = bytes.Clone(o.value)
	}
}

// storeNew stores primitive objects, failing on one the card already gave
// in a response (book 3 section 10.2: redundant objects end the
// transaction).
func storeNew(m map[tag][]byte, seen map[tag]bool, objs []tlvObject) error {
	for _, o := range objs {
		if o.tag.constructed() {
			if err := storeNew(m, seen, o.children); err != nil {
				return err
			}
			continue
		}
		if seen[o.tag] {
			return fmt.Errorf("%w: data object %v given twice", ErrFormat, o.tag)
		}
		seen[o.tag] = true
		m[o.tag] = bytes.Clone(o.value)
	}
	return nil
}
