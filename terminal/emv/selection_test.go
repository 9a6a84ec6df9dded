package emv

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// twoApps adds a second Visa application (a debit AID matched by partial
// selection) to the card.
func twoApps(p1, p2 []byte) func(c *testCard, a *testApp) {
	return func(c *testCard, a *testApp) {
		b := *a
		b.aid = h("A000000003101002")
		b.label = "VISA DEBIT"
		a.priority, b.priority = p1, p2
		c.apps = append(c.apps, &b)
	}
}

// debitAID configures the terminal AID A000000003101002 (exact match
// only) after the Visa AID A0000000031010, which partial selection lets
// match the same DF name.
func debitAID(c *Config) {
	a := c.AIDs[0]
	a.AID, a.Label, a.PartialSelection = h("A000000003101002"), "VISA DEBIT", false
	c.AIDs = append(c.AIDs, a)
}

// broadAID configures the terminal AID A000000003 (the Visa RID, partial
// selection allowed) before the Visa AID A0000000031010: both match the
// DF name A000000003101002 by partial selection.
func broadAID(c *Config) {
	a := c.AIDs[0]
	a.AID, a.Label, a.PartialSelection = h("A000000003"), "VISA ANY", true
	c.AIDs = append([]AIDParams{a}, c.AIDs...)
}

// usesAID checks the terminal AID (9F06) whose parameters apply.
func usesAID(aid string) func(t *testing.T, s *Session, c *testCard, _ *testUI) {
	return func(t *testing.T, s *Session, c *testCard, _ *testUI) {
		if got := upper(s.st.term[0x9F06]); got != aid {
			t.Errorf("terminal AID %s, want %s", got, aid)
		}
	}
}

func TestSelection(t *testing.T) {
	runCases(t, []contactCase{
		// Book 1 12.3.2/12.3.3: a DF name equal to a terminal AID matches
		// that AID, even when a shorter AID configured before it also
		// matches by partial selection.
		{name: "exact AID match wins (PSE)", cfg: debitAID, mod: func(_ *testCard, a *testApp) { a.aid = h("A000000003101002") },
			outcome: OutcomeApprovedOffline, check: usesAID("A000000003101002")},
		{name: "exact AID match wins (list of AIDs)", cfg: debitAID,
			mod:     func(c *testCard, a *testApp) { c.pse = false; a.aid = h("A000000003101002") },
			outcome: OutcomeApprovedOffline, check: usesAID("A000000003101002")},
		// Several terminal AIDs match a DF name by partial selection:
		// the parameters are those of the longest, the most specific,
		// whatever the configuration order.
		{name: "longest partial match wins (PSE)", cfg: broadAID, mod: func(_ *testCard, a *testApp) { a.aid = h("A000000003101002") },
			outcome: OutcomeApprovedOffline, check: usesAID("A0000000031010")},
		{name: "longest partial match wins (list of AIDs)", cfg: broadAID,
			mod:     func(c *testCard, a *testApp) { c.pse = false; a.aid = h("A000000003101002") },
			outcome: OutcomeApprovedOffline, check: usesAID("A0000000031010")},
		{name: "partial match without the exact AID", mod: func(_ *testCard, a *testApp) { a.aid = h("A000000003101002") },
			outcome: OutcomeApprovedOffline, check: usesAID("A0000000031010")},
		{name: "PSE, one application", outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, _ *Session, c *testCard, ui *testUI) {
				if c.cmds[0] != "00A404000E315041592E5359532E444446303100" || len(ui.offered) != 0 {
					t.Errorf("first command %s, offered %v", c.cmds[0], ui.offered)
				}
			}},
		// Book 1 section 12.2.3: the directory SFI of the PSE is 1 to
		// 10. Another value makes the PSE unusable: the list of AIDs
		// follows, and no record of that SFI is read.
		{name: "PSE directory SFI 10", mod: func(c *testCard, _ *testApp) { c.pseSFI = 10 }, outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, _ *Session, c *testCard, _ *testUI) {
				if c.cmds[1] != "00B2015400" || c.cmds[3] != "00A4040007A000000003101000" {
					t.Errorf("commands %v", c.cmds[:4])
				}
			}},
		{name: "PSE directory SFI 11: list of AIDs", mod: func(c *testCard, _ *testApp) { c.pseSFI = 11 }, outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, _ *Session, c *testCard, _ *testUI) {
				if c.cmds[1] != "00A4040007A000000003101000" || c.cmds[2] != "00A4040007A000000004101000" {
					t.Errorf("commands %v", c.cmds[:4])
				}
			}},
		{name: "PSE directory SFI 30: list of AIDs", mod: func(c *testCard, _ *testApp) { c.pseSFI = 30 }, outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, _ *Session, c *testCard, _ *testUI) {
				if c.cmds[1] != "00A4040007A000000003101000" {
					t.Errorf("commands %v", c.cmds[:4])
				}
			}},
		{name: "list of AIDs when there is no PSE", mod: func(c *testCard, _ *testApp) { c.pse = false }, outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, _ *Session, c *testCard, _ *testUI) {
				if c.cmds[1] != "00A4040007A000000003101000" || c.cmds[2] != "00A4040007A000000004101000" {
					t.Errorf("commands %v", c.cmds[:4])
				}
			}},
		{name: "PSE, cardholder picks by priority order", mod: twoApps([]byte{0x02}, []byte{0x01}), ui: &testUI{pick: 1, pins: [][]byte{rightPIN}},
			outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, s *Session, _ *testCard, ui *testUI) {
				if len(ui.offered) != 1 || len(ui.offered[0]) != 2 || ui.offered[0][0].Label != "VISA DEBIT" {
					t.Fatalf("offered %+v", ui.offered)
				}
				if s.Summary().AID != "A0000000031010" {
					t.Errorf("selected %s", s.Summary().AID)
				}
			}},
		// Book 1 section 12.3.3: a DF name longer than the AID (allowed
		// by partial selection) is followed by SELECT next occurrence;
		// one equal to the AID ends that AID's search (step 4, then the
		// next AID, step 5).
		{name: "list of AIDs, partial selection finds both", mod: func(c *testCard, a *testApp) {
			twoApps(nil, nil)(c, a)
			a.aid = h("A000000003101001")
			c.pse = false
		}, ui: &testUI{pick: 1, pins: [][]byte{rightPIN}}, outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, s *Session, c *testCard, ui *testUI) {
				if len(ui.offered) != 1 || len(ui.offered[0]) != 2 || s.Summary().AID != "A000000003101002" {
					t.Errorf("offered %+v, selected %s", ui.offered, s.Summary().AID)
				}
				if c.cmds[1] != "00A4040007A000000003101000" || c.cmds[2] != "00A4040207A000000003101000" || c.cmds[3] != "00A4040207A000000003101000" {
					t.Errorf("commands %v", c.cmds[:5])
				}
			}},
		{name: "list of AIDs, an exact match ends the AID's occurrences", mod: func(c *testCard, a *testApp) {
			twoApps(nil, nil)(c, a)
			c.pse = false
		}, outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, s *Session, c *testCard, ui *testUI) {
				if len(ui.offered) != 0 || s.Summary().AID != "A0000000031010" {
					t.Errorf("offered %+v, selected %s", ui.offered, s.Summary().AID)
				}
				for _, x := range c.cmds {
					if strings.HasPrefix(x, "00A40402") {
						t.Errorf("SELECT next occurrence after an exact match: %v", c.cmds)
						break
					}
				}
			}},
		{name: "confirmation of the only application", mod: func(_ *testCard, a *testApp) { a.priority = []byte{0x81} },
			outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, _ *Session, _ *testCard, ui *testUI) {
				if len(ui.offered) != 1 || !ui.offered[0][0].ConfirmationRequired {
					t.Errorf("offered %+v", ui.offered)
				}
			}},
		{name: "no cardholder selection: highest priority", mod: twoApps([]byte{0x02}, []byte{0x01}),
			cfg: func(c *Config) { c.Terminal.CardholderSelection = false }, outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, s *Session, _ *testCard, ui *testUI) {
				if len(ui.offered) != 0 || s.Summary().AID != "A000000003101002" {
					t.Errorf("offered %v, selected %s", ui.offered, s.Summary().AID)
				}
			}},
		{name: "no cardholder selection: confirmation needed is left out", mod: twoApps([]byte{0x81}, []byte{0x02}),
			cfg: func(c *Config) { c.Terminal.CardholderSelection = false }, outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, s *Session, _ *testCard, _ *testUI) {
				if s.Summary().AID != "A000000003101002" {
					t.Errorf("selected %s", s.Summary().AID)
				}
			}},
		{name: "GPO 6985: the next application", mod: func(c *testCard, a *testApp) {
			twoApps([]byte{0x01}, []byte{0x02})(c, a)
			a.gpoSW = 0x6985
		}, cfg: func(c *Config) { c.Terminal.CardholderSelection = false }, outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, s *Session, _ *testCard, ui *testUI) {
				if s.Summary().AID != "A000000003101002" || !ui.saw(MsgTryAgain) {
					t.Errorf("selected %s, messages %v", s.Summary().AID, ui.messages)
				}
			}},
		{name: "GPO 6985 on the only application", mod: func(_ *testCard, a *testApp) { a.gpoSW = 0x6985 },
			outcome: OutcomeEndApplication, err: ErrNoApplication},
		{name: "final SELECT fails: the next one", mod: func(c *testCard, a *testApp) {
			twoApps([]byte{0x01}, []byte{0x02})(c, a)
			a.blocked = true
		}, cfg: func(c *Config) { c.Terminal.CardholderSelection = false }, outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, s *Session, _ *testCard, _ *testUI) {
				if s.Summary().AID != "A000000003101002" {
					t.Errorf("selected %s", s.Summary().AID)
				}
			}},
		{name: "exact match only without partial selection", mod: func(c *testCard, a *testApp) {
			c.pse = false
			a.aid = h("A000000004101001")
		}, outcome: OutcomeEndApplication, err: ErrNoApplication},
		{name: "PDOL data over 127 bytes", mod: func(_ *testCard, a *testApp) { a.pdol = append(a.pdol, h("DF0178")...) },
			outcome: OutcomeApprovedOffline},
		{name: "PDOL data too long for one command", mod: func(_ *testCard, a *testApp) { a.pdol = append(a.pdol, h("DF017FDF027F")...) },
			outcome: OutcomeEndApplication, err: ErrFormat},
		{name: "T=0: 61xx and 6Cxx", mod: func(c *testCard, _ *testApp) { c.t0 = true }, outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, _ *Session, c *testCard, _ *testUI) {
				if c.counts["GET RESPONSE"] == 0 {
					t.Errorf("no GET RESPONSE: %v", c.cmds)
				}
				var le6C bool
				for _, x := range c.cmds {
					if len(x) == 10 && x[:4] == "00B2" && x[8:] != "00" {
						le6C = true
					}
				}
				if !le6C {
					t.Errorf("no READ RECORD resent with the Le of 6Cxx: %v", c.cmds)
				}
			}},
		// ISO/IEC 7816-3 10.3.3: 6Cxx to a GET RESPONSE re-issues the GET
		// RESPONSE; sending the command again would ask the card for a
		// second cryptogram.
		{name: "T=0: 6Cxx to a GET RESPONSE", mod: func(c *testCard, _ *testApp) { c.t0, c.t0Short = true, 1 }, outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, _ *Session, c *testCard, _ *testUI) {
				if c.counts["GENERATE AC"] != 1 || c.counts["GPO"] != 1 {
					t.Errorf("GENERATE AC sent %d times, GPO %d: %v", c.counts["GENERATE AC"], c.counts["GPO"], c.cmds)
				}
			}},
		{name: "T=0 with CDA and scripts", opts: cardOpts{oda: "cda"}, mod: func(c *testCard, _ *testApp) { c.t0 = true }, outcome: OutcomeApprovedOffline},
	})
}

func TestGetResponseLoopBounded(t *testing.T) {
	card := &loopCard{}
	k := testKernel(t, testConfig(t), nil)
	s, err := k.Start(context.Background(), card, Contact, purchase(1000), nil)
	if !errors.Is(err, ErrFormat) || s.Outcome() != OutcomeEndApplication {
		t.Fatalf("a card answering 61xx forever: %v %v", s.Outcome(), err)
	}
	if card.n > maxGetResponse+1 {
		t.Errorf("%d exchanges", card.n)
	}
}

// loopCard answers every command with 6101 and one byte.
type loopCard struct{ n int }

func (c *loopCard) Transmit(context.Context, []byte) ([]byte, error) {
	c.n++
	return []byte{0x00, 0x61, 0x01}, nil
}
