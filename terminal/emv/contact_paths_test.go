package emv

import (
	"context"
	"errors"
	"testing"

	cemv "posd/crypto/emv"
)

// contactCase is one outcome path of the contact flow.
type contactCase struct {
	name    string
	opts    cardOpts
	mod     func(c *testCard, a *testApp)
	cfg     func(c *Config)
	ui      *testUI
	txn     Txn
	outcome Outcome
	tvr     string // expected TVR, "" not checked
	tsi     string
	cvm     string // expected CVM results
	method  CVMMethod
	err     error // expected error of Start
	reason  Reason
	check   func(t *testing.T, s *Session, c *testCard, ui *testUI)
}

func runCases(t *testing.T, cases []contactCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			if tc.opts.oda == "" {
				tc.opts.oda = "dda"
			}
			card, app := newContactCard(t, tc.opts)
			if tc.mod != nil {
				tc.mod(card, app)
			}
			ui := tc.ui
			if ui == nil {
				ui = &testUI{pins: [][]byte{rightPIN}}
			}
			txn := tc.txn
			if txn.Currency == "" {
				txn = purchase(1000)
			}
			logs := &logBuf{}
			s, err := run(t, cfg, card, ui, txn, logs)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
			} else if err != nil {
				t.Fatalf("Start: %v", err)
			}
			sum := s.Summary()
			if s.Outcome() != tc.outcome {
				t.Errorf("outcome %v, want %v (summary %+v)", s.Outcome(), tc.outcome, sum)
			}
			if tc.tvr != "" && sum.TVR != tc.tvr {
				t.Errorf("TVR %s, want %s", sum.TVR, tc.tvr)
			}
			if tc.tsi != "" && sum.TSI != tc.tsi {
				t.Errorf("TSI %s, want %s", sum.TSI, tc.tsi)
			}
			if tc.cvm != "" && sum.CVMResults != tc.cvm {
				t.Errorf("CVM results %s, want %s", sum.CVMResults, tc.cvm)
			}
			if tc.cvm != "" && s.CVM().Method != tc.method {
				t.Errorf("CVM method %v, want %v", s.CVM().Method, tc.method)
			}
			if tc.reason != ReasonNone && s.Reason() != tc.reason {
				t.Errorf("reason %v, want %v", s.Reason(), tc.reason)
			}
			if tc.check != nil {
				tc.check(t, s, card, ui)
			}
			noCardData(t, logs.String(), err)
		})
	}
}

// oddCDOL1 is CDOL1 with an unknown tag (DF7F) and posd's trace tags.
const oddCDOL1 = cdol1Hex + "DF7F02DFE00101DFE00201DFE00301"

func TestContactODA(t *testing.T) {
	runCases(t, []contactCase{
		{name: "SDA ok", opts: cardOpts{oda: "sda"}, outcome: OutcomeApprovedOffline, tvr: "0200000000", tsi: "E800",
			check: func(t *testing.T, s *Session, _ *testCard, _ *testUI) {
				if v := s.st.icc[0x9F45]; len(v) != 2 || v[0] != 0xDA {
					t.Errorf("DAC %X", v)
				}
			}},
		{name: "SDA with tag list", opts: cardOpts{oda: "sda", tagList: true}, outcome: OutcomeApprovedOffline, tvr: "0200000000"},
		{name: "SDA tampered", opts: cardOpts{oda: "sda", tamper: "ssad"}, outcome: OutcomeOnlineRequest, tvr: "4200000000", tsi: "E800"},
		{name: "DDA ok", opts: cardOpts{oda: "dda"}, outcome: OutcomeApprovedOffline, tvr: "0000000000",
			check: func(t *testing.T, s *Session, _ *testCard, _ *testUI) {
				if v := s.st.icc[0x9F4C]; len(v) != 2 {
					t.Errorf("ICC dynamic number %X", v)
				}
			}},
		{name: "DDA ICC certificate tampered", opts: cardOpts{oda: "dda", tamper: "icccert"}, outcome: OutcomeOnlineRequest, tvr: "0800000000"},
		{name: "DDA issuer certificate tampered", opts: cardOpts{oda: "dda", tamper: "issuercert"}, outcome: OutcomeOnlineRequest, tvr: "0800000000"},
		{name: "DDA CA key missing", opts: cardOpts{oda: "dda", capkIndex: 0x99}, outcome: OutcomeOnlineRequest, tvr: "0800000000"},
		{name: "DDA CA key index absent", opts: cardOpts{oda: "dda", drop: []tag{0x8F}}, outcome: OutcomeOnlineRequest, tvr: "2800000000"},
		{name: "DDA ICC certificate absent", opts: cardOpts{oda: "dda", drop: []tag{0x9F46}}, outcome: OutcomeOnlineRequest, tvr: "2800000000"},
		{name: "DDA issuer certificate expired", opts: cardOpts{oda: "dda", issuerExp: cemv.MonthYear{0x05, 0x25}}, outcome: OutcomeOnlineRequest, tvr: "0800000000"},
		{name: "DDA ICC certificate expired", opts: cardOpts{oda: "dda", iccExp: cemv.MonthYear{0x01, 0x24}}, outcome: OutcomeOnlineRequest, tvr: "0800000000"},
		{name: "DDA ICC certificate PAN mismatch", opts: cardOpts{oda: "dda", certPAN: "4761739001010127"}, outcome: OutcomeOnlineRequest, tvr: "0800000000"},
		{name: "DDA issuer identifier mismatch", opts: cardOpts{oda: "dda", issuerID: "476174"}, outcome: OutcomeOnlineRequest, tvr: "0800000000"},
		{name: "DDA default DDOL", opts: cardOpts{oda: "dda", drop: []tag{0x9F49}}, outcome: OutcomeApprovedOffline, tvr: "0000000000"},
		// DDOL data over 255 bytes cannot be sent: DDA fails without an
		// INTERNAL AUTHENTICATE whose Lc wrapped.
		{name: "DDA DDOL data over 255 bytes", opts: cardOpts{oda: "dda", drop: []tag{0x9F49}, rec2Extra: [][]byte{tlv("9F49", h("9F3704DF017FDF027F"))}},
			outcome: OutcomeOnlineRequest, tvr: "0800000000",
			check: func(t *testing.T, _ *Session, c *testCard, _ *testUI) {
				if n := c.counts["INTERNAL AUTHENTICATE"]; n != 0 {
					t.Errorf("INTERNAL AUTHENTICATE sent: %v", c.cmds)
				}
			}},
		{name: "DDA INTERNAL AUTHENTICATE refused", opts: cardOpts{oda: "dda"},
			mod: func(_ *testCard, a *testApp) { a.intAuthSW = 0x6985 }, outcome: OutcomeOnlineRequest, tvr: "0800000000"},
		{name: "DDA signature wrong", opts: cardOpts{oda: "dda"},
			mod: func(_ *testCard, a *testApp) { a.badDDA = true }, outcome: OutcomeOnlineRequest, tvr: "0800000000"},
		{name: "CDA ok", opts: cardOpts{oda: "cda"}, outcome: OutcomeApprovedOffline, tvr: "0000000000", tsi: "E800"},
		{name: "CDA signature wrong", opts: cardOpts{oda: "cda"}, mod: func(_ *testCard, a *testApp) { a.badCDA = true },
			outcome: OutcomeDeclinedOffline, tvr: "0400000000", reason: ReasonCDAFailed},
		{name: "CDA signature missing", opts: cardOpts{oda: "cda"}, mod: func(_ *testCard, a *testApp) { a.noSDAD = true },
			outcome: OutcomeDeclinedOffline, tvr: "0400000000", reason: ReasonCDAFailed},
		{name: "CDA key recovery fails", opts: cardOpts{oda: "cda", tamper: "icccert"}, outcome: OutcomeOnlineRequest, tvr: "0400000000",
			check: func(t *testing.T, s *Session, c *testCard, _ *testUI) {
				if last := c.cmds[len(c.cmds)-1]; last[4:6] != "80" {
					t.Errorf("GENERATE AC %s asked for CDA after the recovery failed", last)
				}
			}},
		{name: "no ODA", opts: cardOpts{oda: "none"}, outcome: OutcomeOnlineRequest, tvr: "8000000000", tsi: "6800"},
		{name: "ODA record in SFI 11, signed whole", opts: cardOpts{oda: "dda", oddRecord: true}, outcome: OutcomeApprovedOffline, tvr: "0000000000"},
		// Book 3 section 10.3: a record the AFL names for offline data
		// authentication that is not coded as a 70 template makes ODA fail,
		// even when the issuer signed it.
		{name: "ODA record in SFI 11 not a 70 template", opts: cardOpts{oda: "sda"}, mod: rawODARecord(t),
			outcome: OutcomeOnlineRequest, tvr: "4200000000", tsi: "E800"},
	})
}

func TestContactRestrictions(t *testing.T) {
	runCases(t, []contactCase{
		{name: "versions differ", opts: cardOpts{rec1Extra: nil}, mod: func(_ *testCard, a *testApp) {}, cfg: func(c *Config) { c.AIDs[0].AppVersion = [2]byte{0, 0x8C} },
			outcome: OutcomeApprovedOffline, tvr: "0080000000"},
		{name: "expired", txn: Txn{Amount: 1000, Currency: "156", HostReachable: true, Date: testDate.AddDate(5, 0, 0)},
			opts: cardOpts{oda: "none"}, outcome: OutcomeOnlineRequest, tvr: "8040000000"},
		{name: "not yet effective", txn: Txn{Amount: 1000, Currency: "156", HostReachable: true, Date: testDate.AddDate(-6, 0, 0)},
			opts: cardOpts{oda: "none"}, outcome: OutcomeOnlineRequest, tvr: "8020000000"},
		{name: "AUC: not at this terminal", opts: cardOpts{oda: "none"}, mod: func(_ *testCard, a *testApp) {
			a.records[[2]byte{1, 1}] = replaceObj(a.records[[2]byte{1, 1}], "9F07", h("FF00"), h("FE00"))
		}, outcome: OutcomeDeclinedOffline, tvr: "8010000000"},
		{name: "AUC: no international goods", opts: cardOpts{oda: "none"}, cfg: func(c *Config) { c.Terminal.Country = "840" }, mod: func(_ *testCard, a *testApp) {
			a.records[[2]byte{1, 1}] = replaceObj(a.records[[2]byte{1, 1}], "9F07", h("FF00"), h("EB00"))
		}, outcome: OutcomeDeclinedOffline, tvr: "8010000000"},
		// Book 3 annex A1: only terminal types 14, 15 and 16 with the
		// cash capability are ATMs; a merchant's unattended terminal
		// that pays out cash is not one.
		{name: "AUC: merchant unattended terminal with cash is not an ATM", opts: cardOpts{oda: "none"},
			cfg: func(c *Config) { c.Terminal.Type = 0x25; c.Terminal.AdditionalCapabilities[0] |= 0x80 },
			mod: func(_ *testCard, a *testApp) {
				a.records[[2]byte{1, 1}] = replaceObj(a.records[[2]byte{1, 1}], "9F07", h("FF00"), h("FD00"))
			}, outcome: OutcomeOnlineRequest, tvr: "8000000000"},
		{name: "AUC: ATM refused by a card not valid at ATMs", opts: cardOpts{oda: "none"},
			cfg: func(c *Config) { c.Terminal.Type = 0x14; c.Terminal.AdditionalCapabilities[0] |= 0x80 },
			mod: func(_ *testCard, a *testApp) {
				a.records[[2]byte{1, 1}] = replaceObj(a.records[[2]byte{1, 1}], "9F07", h("FF00"), h("FD00"))
			}, outcome: OutcomeDeclinedOffline, tvr: "8010000000"},
		{name: "AUC: cashback not allowed", txn: Txn{Amount: 1000, OtherAmount: 500, Currency: "156", Type: TypeCashback, HostReachable: true},
			outcome: OutcomeDeclinedOffline, tvr: "0010000000"},
		{name: "new card", mod: func(_ *testCard, a *testApp) { a.atc, a.lastOnl = 3, 0 },
			opts: cardOpts{rec1Extra: [][]byte{tlv("9F14", []byte{5}), tlv("9F23", []byte{10})}}, outcome: OutcomeApprovedOffline, tvr: "0008000000"},
	})
}

func TestContactRiskAndActionAnalysis(t *testing.T) {
	velocity := cardOpts{rec1Extra: [][]byte{tlv("9F14", []byte{2}), tlv("9F23", []byte{5})}}
	runCases(t, []contactCase{
		{name: "floor limit", txn: purchase(50000), outcome: OutcomeOnlineRequest, tvr: "0000008000"},
		{name: "random selection", cfg: func(c *Config) { c.AIDs[0].TargetPercent, c.AIDs[0].MaxTargetPercent = 99, 99 },
			outcome: OutcomeOnlineRequest, tvr: "0000001000"},
		{name: "random selection above threshold, biased", txn: purchase(40000),
			cfg:     func(c *Config) { c.AIDs[0].TargetPercent, c.AIDs[0].MaxTargetPercent = 0, 99 },
			outcome: OutcomeApprovedOffline, tvr: "0000000000",
			check: func(t *testing.T, s *Session, _ *testCard, _ *testUI) {
				d := s.st.term[tagRandomDraw]
				// target = 0 + 99 * (40000-10000)/(50000-10000) = 74
				if len(d) != 1 || (d[0] <= 74) != (s.Summary().TVR == "0000001000") {
					t.Errorf("draw %X against target 74, TVR %s", d, s.Summary().TVR)
				}
			}},
		{name: "LCOL exceeded", opts: velocity, mod: func(_ *testCard, a *testApp) { a.atc, a.lastOnl = 20, 17 },
			outcome: OutcomeOnlineRequest, tvr: "0000004000"},
		{name: "UCOL exceeded", opts: velocity, mod: func(_ *testCard, a *testApp) { a.atc, a.lastOnl = 20, 10 },
			outcome: OutcomeOnlineRequest, tvr: "0000006000"},
		{name: "velocity data not returned", opts: velocity, mod: func(_ *testCard, a *testApp) { a.noGetData = true; a.ptc = -1 },
			outcome: OutcomeOnlineRequest, tvr: "0000006000"},
		{name: "velocity within limits", opts: velocity, mod: func(_ *testCard, a *testApp) { a.atc, a.lastOnl = 20, 19 },
			outcome: OutcomeApprovedOffline, tvr: "0000000000"},
		{name: "merchant forced online", txn: Txn{Amount: 1000, Currency: "156", HostReachable: true, ForceOnline: true},
			outcome: OutcomeOnlineRequest, tvr: "0000000800"},
		{name: "TAC denial", cfg: func(c *Config) { c.AIDs[0].TACDenial = [5]byte{0, 0, 0, 0x80, 0} }, txn: purchase(60000),
			outcome: OutcomeDeclinedOffline, tvr: "0000008000"},
		{name: "IAC denial", opts: cardOpts{oda: "none"}, mod: func(_ *testCard, a *testApp) {
			a.records[[2]byte{1, 1}] = replaceObj(a.records[[2]byte{1, 1}], "9F0E", h("0000000000"), h("0000008000"))
		}, txn: purchase(60000), outcome: OutcomeDeclinedOffline, tvr: "8000008000"},
		{name: "IAC online", cfg: func(c *Config) { c.AIDs[0].TACOnline = [5]byte{} }, mod: func(_ *testCard, a *testApp) {
			a.records[[2]byte{1, 1}] = replaceObj(a.records[[2]byte{1, 1}], "9F0F", h("0000000000"), h("0000008000"))
		}, txn: purchase(60000), outcome: OutcomeOnlineRequest},
		{name: "no TAC or IAC online: TC", cfg: func(c *Config) { c.AIDs[0].TACOnline = [5]byte{} }, txn: purchase(60000),
			outcome: OutcomeApprovedOffline, tvr: "0000008000"},
		{name: "host unreachable: TAC default declines", txn: Txn{Amount: 60000, Currency: "156"},
			outcome: OutcomeDeclinedOffline, tvr: "0000008000"},
		{name: "host unreachable: default allows", txn: Txn{Amount: 60000, Currency: "156"}, cfg: func(c *Config) { c.AIDs[0].TACDefault = [5]byte{} },
			outcome: OutcomeApprovedOffline, tvr: "0000008000"},
		{name: "offline-only terminal", cfg: func(c *Config) { c.Terminal.Type = 0x23 }, txn: purchase(60000),
			outcome: OutcomeDeclinedOffline, tvr: "0000008000"},
		{name: "card declines a TC request", mod: func(_ *testCard, a *testApp) { a.decide = func(byte, bool) byte { return 0x00 } },
			outcome: OutcomeDeclinedOffline},
		{name: "card asks online for a TC request", mod: func(_ *testCard, a *testApp) { a.decide = func(byte, bool) byte { return 0x80 } },
			outcome: OutcomeOnlineRequest},
		{name: "card returns a TC for an ARQC request", txn: purchase(60000), mod: func(_ *testCard, a *testApp) { a.decide = func(byte, bool) byte { return 0x40 } },
			outcome: OutcomeEndApplication, err: ErrFormat, reason: ReasonCardError},
		{name: "service not allowed", mod: func(_ *testCard, a *testApp) { a.decide = func(byte, bool) byte { return 0x00 }; a.cidExtra = 0x01 },
			outcome: OutcomeEndApplication, err: ErrServiceNotAllowed, reason: ReasonServiceNotAllowed},
		{name: "GENERATE AC format 1", mod: func(_ *testCard, a *testApp) { a.gacFmt1 = true }, outcome: OutcomeApprovedOffline},
		// Book 3 section 5.4: a DOL entry the terminal does not know is
		// zeros. posd's own trace tags (DFE001 the random draw, DFE002,
		// DFE003) are no EMV data: a card's proprietary DFE001 gets zeros
		// too, never the draw.
		{name: "CDOL1 naming unknown and posd-internal tags", opts: cardOpts{drop: []tag{0x8C}, rec2Extra: [][]byte{tlv("8C", h(oddCDOL1))}},
			mod: func(_ *testCard, a *testApp) { a.cdol1 = h(oddCDOL1) }, outcome: OutcomeApprovedOffline,
			check: func(t *testing.T, s *Session, c *testCard, _ *testUI) {
				if len(s.st.term[tagRandomDraw]) != 1 {
					t.Fatalf("no random draw made: the case tests nothing")
				}
				n := len(c.cdol1Data)
				if n < 5 || upper(c.cdol1Data[n-5:]) != "0000000000" {
					t.Errorf("CDOL1 data ends %X, want zeros", c.cdol1Data[max(0, n-5):])
				}
			}},
		{name: "GPO format 1", mod: func(_ *testCard, a *testApp) { a.gpoFmt1 = true }, outcome: OutcomeApprovedOffline},
		{name: "TC hash with the default TDOL", mod: func(_ *testCard, a *testApp) {
			a.cdol1 = append(h(cdol1Hex), 0x98, 0x14)
			a.records[[2]byte{1, 1}] = replaceObj(a.records[[2]byte{1, 1}], "8C", h(cdol1Hex), a.cdol1)
		}, opts: cardOpts{oda: "none"}, outcome: OutcomeOnlineRequest, tvr: "8000000080",
			check: func(t *testing.T, s *Session, _ *testCard, _ *testUI) {
				if len(s.st.term[0x98]) != 20 {
					t.Errorf("TC hash %X", s.st.term[0x98])
				}
			}},
	})
}

// replaceObj replaces an object's value in a record template.
func replaceObj(rec []byte, t string, old, new []byte) []byte {
	objs, err := parseTLV(rec)
	if err != nil || len(objs) != 1 {
		panic("replaceObj: not a template")
	}
	var parts [][]byte
	for _, o := range objs[0].children {
		v := o.value
		if o.tag.String() == t && string(v) == string(old) {
			v = new
		}
		parts = append(parts, tlv(o.tag.String(), v))
	}
	return tpl("70", parts...)
}

// longCDOL1 asks for 295 bytes: the test card's CDOL1 and two 127-byte
// proprietary objects (zeros).
const longCDOL1 = cdol1Hex + "DF017FDF027F"

func TestContactErrors(t *testing.T) {
	runCases(t, []contactCase{
		{name: "card blocked", mod: func(c *testCard, _ *testApp) { c.blocked = true },
			outcome: OutcomeEndApplication, err: ErrCardBlocked, reason: ReasonCardBlocked},
		{name: "application blocked", mod: func(c *testCard, a *testApp) { c.pse = false; a.blocked = true },
			outcome: OutcomeEndApplication, err: ErrAppBlocked, reason: ReasonAppBlocked},
		{name: "application blocked (T=0 warning)", mod: func(c *testCard, a *testApp) { c.pse = false; c.t0 = true; a.blocked = true },
			outcome: OutcomeEndApplication, err: ErrAppBlocked, reason: ReasonAppBlocked},
		{name: "no supported application", mod: func(c *testCard, a *testApp) { a.aid = h("A0000000999090") },
			outcome: OutcomeEndApplication, err: ErrNoApplication, reason: ReasonNoApplication},
		{name: "PAN missing", opts: cardOpts{oda: "none", drop: []tag{0x5A}},
			outcome: OutcomeEndApplication, err: ErrDataMissing, reason: ReasonCardError, tvr: "2000000000"},
		{name: "CDOL1 missing", opts: cardOpts{oda: "none", drop: []tag{0x8C}},
			outcome: OutcomeEndApplication, err: ErrDataMissing},
		{name: "data object twice", opts: cardOpts{rec2Extra: [][]byte{tlv("5F34", h("01"))}},
			outcome: OutcomeEndApplication, err: ErrFormat},
		{name: "data object of a format 2 GPO response repeated in a record", mod: func(_ *testCard, a *testApp) { a.gpoExtra = tlv("5F34", h("01")) },
			outcome: OutcomeEndApplication, err: ErrFormat},
		{name: "record repeating the AIP of the GPO response", opts: cardOpts{rec2Extra: [][]byte{tlv("82", h("7C00"))}},
			outcome: OutcomeEndApplication, err: ErrFormat},
		{name: "record repeating the AFL of a format 1 GPO response", opts: cardOpts{rec2Extra: [][]byte{tlv("94", h("08010101"))}},
			mod: func(_ *testCard, a *testApp) { a.gpoFmt1 = true }, outcome: OutcomeEndApplication, err: ErrFormat},
		{name: "AIP missing", mod: func(_ *testCard, a *testApp) { a.gpoRaw = tpl("77", tlv("94", a.afl)) },
			outcome: OutcomeEndApplication, err: ErrDataMissing},
		{name: "AFL missing", mod: func(_ *testCard, a *testApp) { a.gpoFmt1 = true; a.afl = nil },
			outcome: OutcomeEndApplication, err: ErrDataMissing},
		{name: "GPO response malformed", mod: func(_ *testCard, a *testApp) { a.gpoRaw = h("800300") },
			outcome: OutcomeEndApplication, err: ErrFormat},
		{name: "GPO response wrong template", mod: func(_ *testCard, a *testApp) { a.gpoRaw = tpl("70", tlv("82", a.aip[:])) },
			outcome: OutcomeEndApplication, err: ErrFormat},
		{name: "AFL malformed", mod: func(_ *testCard, a *testApp) { a.afl = h("0801") },
			outcome: OutcomeEndApplication, err: ErrFormat},
		{name: "AFL record missing", mod: func(_ *testCard, a *testApp) { a.afl = h("08010200") },
			outcome: OutcomeEndApplication, err: ErrStatus},
		{name: "record not a template", mod: func(_ *testCard, a *testApp) { a.records[[2]byte{1, 1}] = h("5A0847617390010101195F2403291231") },
			outcome: OutcomeEndApplication, err: ErrFormat},
		{name: "GPO refused", mod: func(_ *testCard, a *testApp) { a.gpoSW = 0x6A80 },
			outcome: OutcomeEndApplication, err: ErrStatus},
		{name: "GENERATE AC refused", mod: func(_ *testCard, a *testApp) { a.cdol1 = h("9F0206") },
			outcome: OutcomeEndApplication, err: ErrStatus},
		// A short APDU's Lc is one byte: CDOL1 data over 255 bytes ends
		// the transaction before a GENERATE AC whose Lc wrapped.
		{name: "CDOL1 data over 255 bytes", opts: cardOpts{drop: []tag{0x8C}, rec2Extra: [][]byte{tlv("8C", h(longCDOL1))}},
			mod: func(_ *testCard, a *testApp) { a.cdol1 = h(longCDOL1) }, outcome: OutcomeEndApplication, err: ErrFormat,
			check: func(t *testing.T, _ *Session, c *testCard, _ *testUI) {
				if n := c.counts["GENERATE AC"]; n != 0 {
					t.Errorf("GENERATE AC sent: %s", c.cmds[len(c.cmds)-1])
				}
			}},
		{name: "cardholder cancels selection", mod: func(c *testCard, _ *testApp) {
			a2 := *c.apps[0]
			a2.aid = h("A0000000032010")
			c.apps = append(c.apps, &a2)
		}, ui: &testUI{selErr: context.Canceled}, outcome: OutcomeEndApplication, err: ErrCancelled, reason: ReasonCancelled},
		{name: "PIN pad cancel", ui: &testUI{}, outcome: OutcomeEndApplication, err: ErrCancelled, reason: ReasonCancelled},
	})
}

// noCardData fails when the PAN or track 2 appear in logs or the error.
func noCardData(t *testing.T, logs string, err error) {
	t.Helper()
	for _, secret := range []string{testPAN, testTrack2, "291231", "241234", "249999"} {
		if containsFold(logs, secret) {
			t.Errorf("the logs carry card data %q", secret)
		}
		if err != nil && containsFold(err.Error(), secret) {
			t.Errorf("the error carries card data %q: %v", secret, err)
		}
	}
}

// rawODARecord adds to an SDA card a proprietary record in SFI 11, not
// coded as a 70 template, that the AFL marks for offline data
// authentication and that the issuer's signature covers.
func rawODARecord(t *testing.T) func(*testCard, *testApp) {
	return func(_ *testCard, a *testApp) {
		raw := h("DF0102ABCD")
		a.records[[2]byte{11, 1}] = raw
		a.afl = append(a.afl, 11<<3, 1, 1, 1)
		rec1, err := single(a.records[[2]byte{1, 1}], 0x70, "record")
		if err != nil {
			t.Fatal(err)
		}
		var static []byte
		for _, o := range rec1.children {
			static = append(static, encodeTLV(o.tag, o.value)...)
		}
		ssad, err := cemv.SignSSAD(getPKI(t).issuer, [2]byte{0xDA, 0xC1}, append(static, raw...))
		if err != nil {
			t.Fatal(err)
		}
		a.records[[2]byte{2, 2}] = tpl("70", tlv("93", ssad))
	}
}
