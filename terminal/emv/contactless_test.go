package emv

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// clCase is one outcome path of the contactless entry point and kernels.
type clCase struct {
	name    string
	card    func(t testing.TB) (*testCard, *testApp)
	mod     func(c *testCard, a *testApp)
	cfg     func(c *Config)
	ui      *testUI
	txn     Txn
	outcome Outcome
	reason  Reason
	err     error
	method  CVMMethod
	cvm     string
	tvr     string
	kernel  int
	check   func(t *testing.T, s *Session, c *testCard, ui *testUI)
}

func quick(o quickOpts) func(t testing.TB) (*testCard, *testApp) {
	return func(t testing.TB) (*testCard, *testApp) { return newQuickCard(t, o) }
}

func m2(cdcvm bool) func(t testing.TB) (*testCard, *testApp) {
	return func(t testing.TB) (*testCard, *testApp) { return newM2Card(t, cdcvm) }
}

func tap(amount int64) Txn {
	return Txn{Amount: amount, Currency: "156", Type: TypePurchase, HostReachable: true}
}

func runCL(t *testing.T, cases []clCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			card, app := tc.card(t)
			if tc.mod != nil {
				tc.mod(card, app)
			}
			ui := tc.ui
			if ui == nil {
				ui = &testUI{}
			}
			txn := tc.txn
			if txn.Currency == "" {
				txn = tap(1000)
			}
			txn.Date = testDate
			logs := &logBuf{}
			k := testKernel(t, cfg, logs)
			s, err := k.Start(context.Background(), card, Contactless, txn, ui)
			if s == nil {
				t.Fatalf("no session: %v", err)
			}
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
			} else if err != nil {
				t.Fatalf("Start: %v", err)
			}
			sum := s.Summary()
			if s.Outcome() != tc.outcome {
				t.Errorf("outcome %v, want %v (%+v)", s.Outcome(), tc.outcome, sum)
			}
			if tc.reason != ReasonNone && s.Reason() != tc.reason {
				t.Errorf("reason %v, want %v", s.Reason(), tc.reason)
			}
			if tc.cvm != "" && (sum.CVMResults != tc.cvm || s.CVM().Method != tc.method) {
				t.Errorf("CVM %v %s, want %v %s", s.CVM().Method, sum.CVMResults, tc.method, tc.cvm)
			}
			if tc.tvr != "" && sum.TVR != tc.tvr {
				t.Errorf("TVR %s, want %s", sum.TVR, tc.tvr)
			}
			if tc.kernel != 0 && sum.Kernel != tc.kernel {
				t.Errorf("kernel %d, want %d", sum.Kernel, tc.kernel)
			}
			if tc.check != nil {
				tc.check(t, s, card, ui)
			}
			noCardData(t, logs.String(), err)
		})
	}
}

func TestEntryPoint(t *testing.T) {
	runCL(t, []clCase{
		{name: "over the card's transaction limit", card: quick(quickOpts{}), txn: tap(500000),
			outcome: OutcomeTryAnotherInterface, reason: ReasonOverLimit},
		{name: "over every transaction limit: no APDU", card: quick(quickOpts{}), txn: tap(2000001),
			outcome: OutcomeTryAnotherInterface, reason: ReasonOverLimit,
			check: func(t *testing.T, _ *Session, c *testCard, ui *testUI) {
				if len(c.cmds) != 0 || !ui.saw(MsgInsertOrSwipe) {
					t.Errorf("commands %v, messages %v", c.cmds, ui.messages)
				}
			}},
		{name: "currency without contactless limits", card: quick(quickOpts{}), txn: Txn{Amount: 100, Currency: "840", HostReachable: true},
			outcome: OutcomeTryAnotherInterface, reason: ReasonOverLimit},
		{name: "no PPSE", card: quick(quickOpts{}), mod: func(c *testCard, _ *testApp) { c.ppse = false },
			outcome: OutcomeEndApplication, err: ErrNoApplication,
			check: func(t *testing.T, _ *Session, _ *testCard, ui *testUI) {
				if !ui.saw(MsgInsertOrSwipe) {
					t.Errorf("messages %v", ui.messages)
				}
			}},
		{name: "card blocked", card: quick(quickOpts{}), mod: func(c *testCard, _ *testApp) { c.blocked = true },
			outcome: OutcomeEndApplication, err: ErrCardBlocked},
		{name: "no matching AID", card: quick(quickOpts{aid: "A0000000651010"}), outcome: OutcomeEndApplication, err: ErrNoApplication},
		// Book B 3.3.2.5 matches an ADF name equal to a reader AID or
		// beginning with it: the equal one is the AID that applies.
		{name: "exact AID match wins", card: quick(quickOpts{aid: "A000000003101002"}), cfg: debitAID,
			outcome: OutcomeApprovedOffline, check: usesAID("A000000003101002")},
		{name: "longest AID match wins", card: quick(quickOpts{aid: "A000000003101002"}), cfg: broadAID,
			outcome: OutcomeApprovedOffline, check: usesAID("A0000000031010")},
		{name: "kernel identifier of another kernel", card: quick(quickOpts{kernelID: []byte{0x02}}), outcome: OutcomeEndApplication, err: ErrNoApplication},
		{name: "domestic kernel identifier", card: quick(quickOpts{kernelID: []byte{0x83}}), outcome: OutcomeEndApplication, err: ErrNoApplication},
		{name: "priority between combinations", card: func(t testing.TB) (*testCard, *testApp) {
			c, a := newQuickCard(t, quickOpts{priority: []byte{0x02}})
			c2, b := newQuickCard(t, quickOpts{aid: "A000000333010101", label: "UnionPay", priority: []byte{0x01}})
			c.apps = append(c.apps, c2.apps...)
			_ = b
			return c, a
		}, outcome: OutcomeApprovedOffline, kernel: 7,
			check: func(t *testing.T, s *Session, _ *testCard, _ *testUI) {
				if s.Summary().AID != "A000000333010101" {
					t.Errorf("selected %s", s.Summary().AID)
				}
			}},
		{name: "GPO 6985: select next", card: func(t testing.TB) (*testCard, *testApp) {
			c, a := newQuickCard(t, quickOpts{priority: []byte{0x01}, gpoSW: 0x6985})
			c2, _ := newQuickCard(t, quickOpts{aid: "A000000333010101", label: "UnionPay", priority: []byte{0x02}})
			c.apps = append(c.apps, c2.apps...)
			return c, a
		}, outcome: OutcomeApprovedOffline, kernel: 7},
		{name: "card removed", card: quick(quickOpts{}), mod: func(c *testCard, _ *testApp) { c.removeAt = "READ RECORD" },
			outcome: OutcomeEndApplication, err: ErrCardRemoved, reason: ReasonCardRemoved},
	})
}

func TestKernel3(t *testing.T) {
	runCL(t, []clCase{
		{name: "small amount: offline, no CVM", card: quick(quickOpts{}), outcome: OutcomeApprovedOffline, kernel: 3,
			method: CVMNone, cvm: "1F0002", tvr: "0000000000",
			check: func(t *testing.T, s *Session, c *testCard, ui *testUI) {
				if !ui.saw(MsgRemoveCard) || c.counts["GENERATE AC"] != 0 {
					t.Errorf("messages %v, commands %v", ui.messages, c.cmds)
				}
				if s.Summary().TSI != "8000" {
					t.Errorf("TSI %s", s.Summary().TSI)
				}
				cd := s.Card()
				if cd.PAN != testPAN || cd.ServiceCode != "201" || cd.Expiry != "291231" || len(cd.Track2Equivalent) != 17 {
					t.Errorf("card data %+v", cd)
				}
				s.Wipe()
				if cd := s.Card(); cd.PAN != "" || cd.Track2Equivalent != nil {
					t.Errorf("after Wipe: %+v", cd)
				}
				if s.Outcome() != OutcomeApprovedOffline || s.Summary().AID == "" {
					t.Errorf("Wipe lost the outcome or summary")
				}
			}},
		{name: "fDDA version 01", card: quick(quickOpts{cad: true}), outcome: OutcomeApprovedOffline},
		{name: "above the floor limit: online, no CVM", card: quick(quickOpts{}), txn: tap(60000), outcome: OutcomeOnlineRequest,
			method: CVMNone, cvm: "1F0002",
			check: func(t *testing.T, s *Session, c *testCard, _ *testUI) {
				if ttq := s.st.term[0x9F66]; ttq[1] != 0x80 {
					t.Errorf("TTQ %X", ttq)
				}
				objs, _ := parseTLV(s.OnlineData())
				if _, ok := find(objs, 0x9F66); !ok {
					t.Errorf("DE55 without the TTQ")
				}
				// The issuer checks the ARQC over the TVR the card had in
				// the PDOL, not the one the kernel went on to fill in.
				tvr, _ := find(objs, 0x95)
				if sent := dolField(t, h(quickPDOL), s.st.pdolData, 0x95); !bytes.Equal(tvr.value, sent) {
					t.Errorf("DE55 TVR %X, the card's cryptogram covers %X", tvr.value, sent)
				}
				if s.Summary().TVR != "8000000000" {
					t.Errorf("the record's TVR %s lost the terminal's own findings", s.Summary().TVR)
				}
				out, err := s.Complete(context.Background(), HostResponse{Responded: true, Approved: true})
				if err != nil || out != OutcomeApproved || c.counts["GENERATE AC"] != 0 {
					t.Errorf("Complete %v %v", out, err)
				}
			}},
		{name: "configured TTQ claims ODA for online: not advertised", card: quick(quickOpts{}), txn: tap(60000), outcome: OutcomeOnlineRequest,
			method: CVMNone, cvm: "1F0002",
			cfg: func(c *Config) { c.AIDs[0].TTQ[0] |= 0x01 },
			check: func(t *testing.T, s *Session, _ *testCard, _ *testUI) {
				// The kernel does no ODA on an online qVSDC/qPBOC
				// transaction, so it must not tell the card it does.
				if sent := dolField(t, h(quickPDOL), s.st.pdolData, 0x9F66); sent[0]&0x01 != 0 {
					t.Errorf("GPO TTQ %X says ODA for online authorizations", sent)
				}
			}},
		{name: "above the CVM limit: online PIN", card: quick(quickOpts{ctq: h("8000")}), txn: tap(150000), outcome: OutcomeOnlineRequest,
			method: CVMOnlinePIN, cvm: "020000",
			check: func(t *testing.T, s *Session, _ *testCard, ui *testUI) {
				if ttq := s.st.term[0x9F66]; ttq[1] != 0xC0 || ui.onlineN != 1 {
					t.Errorf("TTQ %X, online PIN asked %d", ttq, ui.onlineN)
				}
			}},
		{name: "above the CVM limit, card did CDCVM", card: quick(quickOpts{ctq: h("0080"), cid: 0x80}), txn: tap(150000),
			outcome: OutcomeOnlineRequest, method: CVMCDCVM, cvm: "3F0002"},
		{name: "above the CVM limit, offline with signature", card: quick(quickOpts{ctq: h("4000"), cid: 0x40}), txn: tap(150000),
			cfg: func(c *Config) {
				c.AIDs[0].Limits["156"] = Limits{FloorLimit: 500000, RandomThreshold: NoLimit, CLTransactionLimit: 500000, CLTransactionLimitCDCVM: 500000, CLFloorLimit: 500000, CLCVMLimit: 100000}
			},
			outcome: OutcomeApprovedOffline, method: CVMSignature, cvm: "1E0000"},
		{name: "above the CVM limit, offline without a CVM", card: quick(quickOpts{ctq: h("0000"), cid: 0x40}), txn: tap(150000),
			cfg: func(c *Config) {
				c.AIDs[0].TTQ[0] &^= 0x02
				c.AIDs[0].Limits["156"] = Limits{FloorLimit: 500000, RandomThreshold: NoLimit, CLTransactionLimit: 500000, CLTransactionLimitCDCVM: 500000, CLFloorLimit: 500000, CLCVMLimit: 100000}
			},
			outcome: OutcomeDeclinedOffline, reason: ReasonCVMFailed},
		{name: "card declines", card: quick(quickOpts{cid: 0x01}), outcome: OutcomeDeclinedOffline},
		{name: "cryptogram type from the CVR", card: quick(quickOpts{noCID: true}), outcome: OutcomeApprovedOffline},
		{name: "fDDA fails, card asks to go online", card: quick(quickOpts{tamper: true, ctq: h("2000")}), outcome: OutcomeOnlineRequest, tvr: "0800000000"},
		{name: "fDDA fails, card asks for another interface", card: quick(quickOpts{tamper: true, ctq: h("1000")}),
			outcome: OutcomeTryAnotherInterface, reason: ReasonODAFailed},
		{name: "fDDA fails: declined", card: quick(quickOpts{tamper: true}), outcome: OutcomeDeclinedOffline, reason: ReasonODAFailed, tvr: "0800000000"},
		{name: "TC without a signature", card: quick(quickOpts{noSDAD: true}), outcome: OutcomeDeclinedOffline, tvr: "2800000000"},
		{name: "CA key unknown", card: quick(quickOpts{}), cfg: func(c *Config) { *c, _ = LoadParams([]byte(testParams)) },
			outcome: OutcomeDeclinedOffline, reason: ReasonODAFailed},
		{name: "expired card", card: quick(quickOpts{expiry: "250531"}), outcome: OutcomeDeclinedOffline, reason: ReasonExpired, tvr: "0040000000"},
		{name: "GPO 6984: another interface", card: quick(quickOpts{gpoSW: 0x6984}), outcome: OutcomeTryAnotherInterface, reason: ReasonInterface},
		{name: "GPO 6986: see phone", card: quick(quickOpts{gpoSW: 0x6986}), outcome: OutcomeEndApplication, reason: ReasonSeePhone, err: ErrSeePhone,
			check: func(t *testing.T, _ *Session, _ *testCard, ui *testUI) {
				if !ui.saw(MsgSeePhone) {
					t.Errorf("messages %v", ui.messages)
				}
			}},
		{name: "PDOL without the TTQ", card: quick(quickOpts{pdol: "9F02069F3704"}), outcome: OutcomeTryAnotherInterface},
		// A PDOL asking for more than 127 bytes: the 83 template's length
		// takes the long form 81 xx (BER-TLV, book 3 annex B).
		{name: "PDOL data over 127 bytes", card: quick(quickOpts{pdol: quickPDOL + "DF0178"}), outcome: OutcomeApprovedOffline, kernel: 3},
		{name: "no cryptogram in the GPO response", card: quick(quickOpts{noCrypto: true}), outcome: OutcomeTryAnotherInterface},
		{name: "zero amount not allowed", card: quick(quickOpts{}), txn: tap(0), outcome: OutcomeTryAnotherInterface},
		{name: "zero amount goes online", card: quick(quickOpts{}), txn: tap(0), cfg: func(c *Config) { c.AIDs[0].ZeroAmountAllowed = true },
			outcome: OutcomeOnlineRequest},
	})
}

func TestKernel7(t *testing.T) {
	up := quickOpts{aid: "A000000333010101", label: "UnionPay"}
	upCTQ := up
	upCTQ.ctq = h("8000")
	runCL(t, []clCase{
		{name: "small amount offline (no CVM)", card: quick(up), outcome: OutcomeApprovedOffline, kernel: 7, method: CVMNone, cvm: "1F0002"},
		{name: "above the CVM limit: online PIN", card: quick(upCTQ), txn: tap(100000), outcome: OutcomeOnlineRequest, method: CVMOnlinePIN},
		{name: "above the transaction limit", card: quick(up), txn: tap(600000), outcome: OutcomeTryAnotherInterface},
	})
}

func TestKernel2(t *testing.T) {
	runCL(t, []clCase{
		{name: "small amount: offline with CDA, no CVM", card: m2(false), outcome: OutcomeApprovedOffline, kernel: 2,
			method: CVMNone, cvm: "1F0302", tvr: "0000000000",
			check: func(t *testing.T, s *Session, c *testCard, ui *testUI) {
				if gac := c.cmds[len(c.cmds)-1]; gac[4:6] != "50" {
					t.Errorf("GENERATE AC %s without CDA", gac)
				}
				if !ui.saw(MsgRemoveCard) {
					t.Errorf("messages %v", ui.messages)
				}
			}},
		{name: "above the CVM limit: online PIN", card: m2(false), txn: tap(150000), outcome: OutcomeOnlineRequest,
			method: CVMOnlinePIN, cvm: "420300", tvr: "0000048000"},
		{name: "above the floor limit", card: m2(false), txn: tap(60000), outcome: OutcomeOnlineRequest, tvr: "0000008000"},
		{name: "on-device CVM above the CVM limit", card: m2(true), txn: tap(150000), outcome: OutcomeOnlineRequest,
			method: CVMCDCVM, cvm: "010002"},
		{name: "above the limit without on-device CVM", card: m2(false), txn: tap(600000), outcome: OutcomeTryAnotherInterface, reason: ReasonOverLimit},
		{name: "above the limit with on-device CVM", card: m2(true), txn: tap(600000), outcome: OutcomeOnlineRequest, method: CVMCDCVM},
		{name: "CDA fails", card: m2(false), mod: func(_ *testCard, a *testApp) { a.badCDA = true },
			outcome: OutcomeDeclinedOffline, reason: ReasonCDAFailed, tvr: "0400000000"},
		{name: "PDOL data over 127 bytes", card: m2(false), mod: func(_ *testCard, a *testApp) { a.pdol = append(a.pdol, h("DF0160DF0230")...) },
			outcome: OutcomeApprovedOffline, kernel: 2},
		{name: "mag-stripe mode only", card: m2(false), mod: func(_ *testCard, a *testApp) { a.aip[1] = 0 },
			outcome: OutcomeTryAnotherInterface, reason: ReasonInterface},
		{name: "card declines", card: m2(false), mod: func(_ *testCard, a *testApp) { a.decide = func(byte, bool) byte { return 0 } },
			outcome: OutcomeDeclinedOffline},
	})
}

// TestTCWhenOnlineRequired: the reader asked for an online cryptogram (a
// merchant-forced online, a refund, an amount above the contactless floor
// limit) and the card answers a TC anyway: a card may lower what the
// reader asked for, never raise it, so the tap is declined, never
// approved offline.
func TestTCWhenOnlineRequired(t *testing.T) {
	forced := tap(1000)
	forced.ForceOnline = true
	refund := tap(1000)
	refund.Type, refund.ForceOnline = TypeRefund, true
	runCL(t, []clCase{
		{name: "forced online", card: quick(quickOpts{cid: 0x40}), txn: forced, outcome: OutcomeDeclinedOffline, reason: ReasonUnexpectedTC},
		{name: "refund", card: quick(quickOpts{cid: 0x40}), txn: refund, outcome: OutcomeDeclinedOffline, reason: ReasonUnexpectedTC},
		{name: "above the floor limit", card: quick(quickOpts{cid: 0x40}), txn: tap(60000), outcome: OutcomeDeclinedOffline, reason: ReasonUnexpectedTC},
		{name: "below it, offline allowed", card: quick(quickOpts{cid: 0x40}), txn: tap(1000), outcome: OutcomeApprovedOffline},
	})
}

// seePhone checks a tap that ends with "see phone": the device wants
// its holder to confirm on it, so the caller asks for the same device
// again (Book A's Try Again, EMV Book C-2's restart at Start B), and
// that second tap goes through on its own.
func seePhone(again func(c *testCard, a *testApp), want Outcome) func(t *testing.T, s *Session, c *testCard, ui *testUI) {
	return func(t *testing.T, s *Session, c *testCard, ui *testUI) {
		if !ui.saw(MsgSeePhone) {
			t.Errorf("messages %v", ui.messages)
		}
		if s.Summary().Reason != "see_phone" {
			t.Errorf("summary reason %q", s.Summary().Reason)
		}
		a := c.apps[0]
		again(c, a)
		c.gacCount = 0 // a new tap powers the device up again
		s2, err := testKernel(t, testConfig(t), nil).Start(context.Background(), c, Contactless, tap(150000), &testUI{})
		if err != nil || s2.Outcome() != want || s2.CVM().Method != CVMCDCVM {
			t.Errorf("second tap: %v %v %v", s2.Outcome(), s2.CVM().Method, err)
		}
	}
}

func TestSeePhone(t *testing.T) {
	runCL(t, []clCase{
		// Kernels 3 and 7: the phone answers GET PROCESSING OPTIONS 6986
		// until its holder has unlocked it.
		{name: "kernel 3: GPO 6986", card: quick(quickOpts{gpoSW: 0x6986, ctq: h("0080")}), txn: tap(150000),
			outcome: OutcomeEndApplication, reason: ReasonSeePhone, err: ErrSeePhone,
			check: seePhone(func(_ *testCard, a *testApp) { a.gpoSW = 0 }, OutcomeOnlineRequest)},
		{name: "kernel 7: GPO 6986", card: quick(quickOpts{aid: "A000000333010101", label: "UnionPay", gpoSW: 0x6986, ctq: h("0080")}),
			txn: tap(150000), outcome: OutcomeEndApplication, reason: ReasonSeePhone, err: ErrSeePhone,
			check: seePhone(func(_ *testCard, a *testApp) { a.gpoSW = 0 }, OutcomeOnlineRequest)},
		// Kernel 2: the phone declines the GENERATE AC with an AAC and
		// says in its POS cardholder interaction information (DF4B) that
		// on-device cardholder verification is wanted: that is not a
		// decline of the sale (Book C-2: END APPLICATION, restart at B,
		// "see phone").
		{name: "kernel 2: AAC asking for on-device CVM", card: m2(true), txn: tap(150000),
			mod: func(_ *testCard, a *testApp) {
				a.decide = func(byte, bool) byte { return 0 }
				a.gacExtra = tlv("DF4B", h("000300"))
			},
			outcome: OutcomeEndApplication, reason: ReasonSeePhone, err: ErrSeePhone,
			check: seePhone(func(_ *testCard, a *testApp) { a.decide, a.gacExtra = nil, nil }, OutcomeOnlineRequest)},
		{name: "kernel 2: AAC, on-device CVM wanted (byte 3)", card: m2(true), txn: tap(150000),
			mod: func(_ *testCard, a *testApp) {
				a.decide = func(byte, bool) byte { return 0 }
				a.gacExtra = tlv("DF4B", h("000001"))
			},
			outcome: OutcomeEndApplication, reason: ReasonSeePhone, err: ErrSeePhone},
		{name: "kernel 2: AAC, nothing asked of the holder: declined", card: m2(true), txn: tap(150000),
			mod: func(_ *testCard, a *testApp) {
				a.decide = func(byte, bool) byte { return 0 }
				a.gacExtra = tlv("DF4B", h("0100F0"))
			},
			outcome: OutcomeDeclinedOffline},
	})
}

// TestTrack2AgainstPAN: the host is sent the track 2 equivalent data
// while the terminal masks, records and checks its risk rules on the PAN;
// a card whose two disagree is refused rather than paid under an account
// the terminal never looked at.
func TestTrack2AgainstPAN(t *testing.T) {
	other := "4761739001010200D29122010123456789"
	swap := func(_ *testCard, a *testApp) {
		old := a.quick
		a.quick = func(c *testCard, pd []byte) []byte { return bytes.Replace(old(c, pd), h(testTrack2), h(other), 1) }
	}
	runCL(t, []clCase{
		{name: "kernel 3, offline", card: quick(quickOpts{}), mod: swap, outcome: OutcomeEndApplication, reason: ReasonCardError, err: ErrFormat},
		{name: "kernel 3, online", card: quick(quickOpts{}), txn: tap(60000), mod: swap, outcome: OutcomeEndApplication, reason: ReasonCardError, err: ErrFormat},
		{name: "kernel 2", card: m2(false), mod: func(_ *testCard, a *testApp) {
			a.records[[2]byte{1, 1}] = bytes.Replace(a.records[[2]byte{1, 1}], h("5413330089020011D2"), h("5413330089020029D2"), 1)
		}, outcome: OutcomeEndApplication, reason: ReasonCardError, err: ErrFormat},
	})
}

// TestKernel2LimitBoundaries: Book C-2's reader limits are amounts above
// which something happens (DF8123 floor, DF8124/DF8125 transaction,
// DF8126 CVM required): an amount equal to one is still under it. Book
// B's "at or above" is the entry point's rule for the other kernels.
func TestKernel2LimitBoundaries(t *testing.T) {
	runCL(t, []clCase{
		{name: "at the CVM required limit: no CVM", card: m2(false), txn: tap(100000), outcome: OutcomeOnlineRequest, method: CVMNone, cvm: "1F0302"},
		{name: "just above it: online PIN", card: m2(false), txn: tap(100001), outcome: OutcomeOnlineRequest, method: CVMOnlinePIN},
		{name: "at the floor limit: offline", card: m2(false), txn: tap(50000), outcome: OutcomeApprovedOffline},
		{name: "at the transaction limit", card: m2(false), txn: tap(500000), outcome: OutcomeOnlineRequest, method: CVMOnlinePIN},
		{name: "just above it", card: m2(false), txn: tap(500001), outcome: OutcomeTryAnotherInterface, reason: ReasonOverLimit},
		{name: "at the on-device CVM transaction limit", card: m2(true), txn: tap(2000000), outcome: OutcomeOnlineRequest, method: CVMCDCVM},
		{name: "just above it", card: m2(true), txn: tap(2000001), outcome: OutcomeTryAnotherInterface, reason: ReasonOverLimit},
	})
}

// TestKernel3LimitBoundaries: Book B pre-processing for kernels 3 and 7:
// at or above the transaction limit not allowed, at or above the CVM
// required limit a CVM, above the floor limit online.
func TestKernel3LimitBoundaries(t *testing.T) {
	runCL(t, []clCase{
		{name: "at the CVM required limit: a CVM", card: quick(quickOpts{ctq: h("8000")}), txn: tap(100000), outcome: OutcomeOnlineRequest, method: CVMOnlinePIN},
		{name: "just under it: none", card: quick(quickOpts{ctq: h("8000")}), txn: tap(99999), outcome: OutcomeOnlineRequest, method: CVMNone},
		{name: "at the floor limit: offline", card: quick(quickOpts{}), txn: tap(50000), outcome: OutcomeApprovedOffline},
		{name: "at the transaction limit", card: quick(quickOpts{}), txn: tap(500000), outcome: OutcomeTryAnotherInterface, reason: ReasonOverLimit},
		{name: "just under it", card: quick(quickOpts{}), txn: tap(499999), outcome: OutcomeOnlineRequest},
	})
}

// TestQuickWithoutTrack2: kernels 3 and 7 send the host the track 2
// equivalent data, which Book C-3 makes mandatory in a qVSDC answer; a
// card that leaves it out cannot be sent online nor recorded as paid.
func TestQuickWithoutTrack2(t *testing.T) {
	runCL(t, []clCase{
		{name: "online", card: quick(quickOpts{noTrack2: true}), txn: tap(60000),
			outcome: OutcomeEndApplication, reason: ReasonCardError, err: ErrDataMissing, tvr: "2000000000"},
		{name: "offline", card: quick(quickOpts{noTrack2: true}),
			outcome: OutcomeEndApplication, reason: ReasonCardError, err: ErrDataMissing},
	})
}
