package console

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"posd/crypto/tr31"
	"posd/terminal/dukptkeys"
	"posd/terminal/keyload"
)

// Dual control of the KBPK: component 1 is held here, in memory only,
// between the first custodian's confirmation and the second custodian's
// component (or ComponentHold, or kbpk cancel).
type heldComponent struct {
	key      []byte
	engineer string
	at       time.Time
}

// heldUntil returns when the held component is wiped, if one is held.
func (c *Console) heldUntil() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held == nil {
		return time.Time{}, false
	}
	return c.held.at.Add(ComponentHold), true
}

// heldBy returns who entered the held component and until when it is kept.
func (c *Console) heldBy() (string, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held == nil {
		return "", time.Time{}, false
	}
	return c.held.engineer, c.held.at.Add(ComponentHold), true
}

// expireHeld wipes a held component older than ComponentHold; it returns
// who had entered it when it did.
func (c *Console) expireHeld(now time.Time) (string, bool) {
	c.mu.Lock()
	h := c.held
	if h == nil || now.Before(h.at.Add(ComponentHold)) {
		c.mu.Unlock()
		return "", false
	}
	c.held = nil
	clear(h.key)
	c.mu.Unlock()
	_ = c.audit(h.engineer, "custodian", "kbpk_component", "component 1 expired: wiped")
	return h.engineer, true
}

// takeHeld removes h if it is still the held component.
func (c *Console) takeHeld(h *heldComponent) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held != h {
		return false
	}
	c.held = nil
	return true
}

// parseComponent decodes a component typed in hex (spaces allowed between
// digits): 32, 48 or 64 hex digits. Errors never quote the input.
func parseComponent(raw []byte) ([]byte, string) {
	digits := make([]byte, 0, len(raw))
	defer func() { clear(digits[:cap(digits)]) }()
	for _, b := range raw {
		if b == ' ' {
			continue
		}
		if !isHex(b) {
			return nil, "a component is hex digits (0-9, A-F) only"
		}
		digits = append(digits, b)
	}
	switch len(digits) {
	case 32, 48, 64:
	default:
		return nil, "a component is 32, 48 or 64 hex digits"
	}
	k := make([]byte, len(digits)/2)
	if _, err := hex.Decode(k, digits); err != nil {
		clear(k)
		return nil, "a component is hex digits (0-9, A-F) only"
	}
	return k, ""
}

// readComponent reads, checks and confirms one component; nil when the
// custodian did not confirm it (the reason already shown). A component
// that is refused is asked for again (an empty line or Ctrl-C stops), and
// the y/n question echoes hex digits as '*' and asks again on any other
// answer: a custodian typing the form row by row must never see a row
// come back in clear at the next prompt. Whenever it returns nil, the
// next command line is echoed with its hex digits as '*' (maskNext),
// but after an empty line at the component prompt: the custodian's own
// stop. Leaving the component prompt is audited, never what was typed.
func (s *session) readComponent(idx, wantLen int) []byte {
	s.printf("KBPK component %d of 2: type it in hex on one line (32, 48 or 64 digits, spaces allowed); it is shown as *", idx)
	var (
		comp []byte
		kcv  string
	)
	for comp == nil {
		raw, st := s.readLine("component: ", echoStar)
		if st != stLine {
			clear(raw)
			// Abandoned, logged out: the row being typed (or pasted
			// right after the Ctrl-C) lands at the command prompt.
			s.maskNext = true
			if how := abandonedHow(st); how != "" {
				_ = s.auditf("kbpk_component", "component %d entry abandoned (%s)", idx, how)
			}
			if st == stAbandon || st == stEOF {
				s.println("component entry abandoned")
			}
			return nil
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			// The custodian's own stop, a line of its own: what comes
			// next is a command, echoed as any (a hex group beyond its
			// 6th digit still as '*'), not with its letters a-f masked.
			_ = s.auditf("kbpk_component", "component %d entry abandoned (empty line)", idx)
			s.println("component entry abandoned")
			return nil
		}
		c, problem := parseComponent(raw)
		clear(raw)
		if problem == "" && wantLen > 0 && len(c) != wantLen {
			clear(c)
			problem = fmt.Sprintf("component 2 must be as long as component 1 (%d hex digits)", 2*wantLen)
		}
		if problem == "" {
			k, err := s.c.term.ComponentKCV(c)
			if err != nil {
				clear(c)
				problem = fmt.Sprintf("component refused: %v", err)
			} else {
				comp, kcv = c, k
			}
		}
		if problem != "" {
			s.println(problem + ": nothing kept")
			s.println("type the whole component again on one line, or an empty line to stop")
		}
	}
	s.printf("component %d KCV: %s", idx, kcv)
	for {
		l, st := s.readLine("does it match the KCV on your form? y/n: ", echoMaskHex)
		yes, no := isYes(l), isNo(l)
		clear(l)
		if st != stLine || no {
			clear(comp)
			s.maskNext = true
			if st != stClosed {
				_ = s.auditf("kbpk_component", "component %d not confirmed: wiped", idx)
				s.printf("component %d wiped", idx)
			}
			return nil
		}
		if yes {
			break
		}
		s.println("answer y or n")
	}
	if err := s.auditf("kbpk_component", "component %d confirmed, KCV %s", idx, kcv); err != nil {
		clear(comp)
		s.println("audit log unavailable: component wiped")
		return nil
	}
	return comp
}

// abandonedHow words how a prompt's line read ended without a line, for
// the audit log ("" when the session ends: nothing is written then).
func abandonedHow(st status) string {
	switch st {
	case stAbandon:
		return "Ctrl-C or a line too long"
	case stEOF:
		return "Ctrl-D"
	case stLoggedOut:
		return "logged out"
	}
	return ""
}

func (s *session) cmdKBPKComponent(parsed) {
	s.c.expireHeld(s.now())
	s.c.mu.Lock()
	h := s.c.held
	s.c.mu.Unlock()
	me := s.claims.Engineer
	if h != nil && sameEngineer(h.engineer, me) {
		_ = s.auditf("refused", "kbpk component: component 2 by the custodian of component 1")
		s.println("component 2 must be entered by a different custodian: log out and let the second custodian log in")
		return
	}
	if h == nil {
		// Replacing a KBPK is allowed (a new key form from the
		// acquirer), but never unknowingly: key blocks made under the
		// old one will not load any more.
		if kcv, err := s.c.term.KBPKCheckValue(s.ctx); err != nil {
			s.printf("cannot read the stored KBPK: %v", err)
			return
		} else if kcv != "" {
			s.printf("a KBPK is stored (KCV %s): these two components replace it, and key blocks made under it will no longer load", kcv)
		}
		comp := s.readComponent(1, 0)
		if comp == nil {
			return
		}
		s.c.mu.Lock()
		if s.c.held != nil {
			s.c.mu.Unlock()
			clear(comp)
			s.println("another component 1 was entered meanwhile: yours is wiped")
			return
		}
		h = &heldComponent{key: comp, engineer: me, at: s.now()}
		s.c.held = h
		s.c.mu.Unlock()
		_ = s.auditf("kbpk_component", "component 1 held for %s", ComponentHold)
		s.printf("component 1 held in memory until %s; a different custodian must now log in and run kbpk component",
			h.at.Add(ComponentHold).UTC().Format(time.RFC3339))
		return
	}
	s.printf("component 1 was entered by %s", h.engineer)
	comp := s.readComponent(2, len(h.key))
	if comp == nil {
		return
	}
	defer clear(comp)
	if !s.c.takeHeld(h) {
		s.println("component 1 expired or was cancelled meanwhile: both wiped, start again with component 1")
		return
	}
	defer clear(h.key)
	if err := s.auditf("kbpk_load", "components of %s and %s", h.engineer, me); err != nil {
		s.println("audit log unavailable: KBPK not loaded, both components wiped")
		return
	}
	old, _ := s.c.term.KBPKCheckValue(s.ctx) // for the record: the load replaces it
	kcv, err := s.c.term.LoadKBPK(s.ctx, h.key, comp)
	if err != nil {
		why := keyLoadFailure(err)
		_ = s.auditf("kbpk_load", "failed: %s", why)
		s.printf("KBPK load failed: %s", why)
		s.println("both components wiped: start again with component 1")
		return
	}
	if old != "" {
		_ = s.auditf("kbpk_load", "loaded, KCV %s, replacing KCV %s", kcv, old)
		s.printf("KBPK loaded, KCV %s (replacing KCV %s); both components wiped", kcv, old)
		return
	}
	_ = s.auditf("kbpk_load", "loaded, KCV %s", kcv)
	s.printf("KBPK loaded, KCV %s; both components wiped", kcv)
}

func (s *session) cmdKBPKCancel(parsed) {
	s.c.mu.Lock()
	h := s.c.held
	s.c.held = nil
	s.c.mu.Unlock()
	if h == nil {
		s.println("no KBPK component held")
		return
	}
	clear(h.key)
	_ = s.auditf("kbpk_component", "component 1 of %s cancelled: wiped", h.engineer)
	s.printf("KBPK component 1 (entered by %s) wiped", h.engineer)
}

func (s *session) cmdKeyLoad(parsed) {
	s.println("paste the TR-31 key block (shown as *)")
	raw, st := s.readLine("key block: ", echoStar)
	if st != stLine {
		if st != stClosed {
			_ = s.auditf("key_load", "abandoned")
		}
		if st == stAbandon || st == stEOF {
			s.println("key load abandoned")
		}
		return
	}
	block := strings.TrimSpace(string(raw))
	clear(raw)
	if block == "" {
		_ = s.auditf("key_load", "cancelled")
		s.println("key load cancelled")
		return
	}
	if len(block) < 16 || strings.ContainsRune(block, ' ') {
		s.println("not a TR-31 key block: nothing loaded")
		return
	}
	out, err := s.c.term.LoadKey(s.ctx, block)
	if err != nil {
		why := keyLoadFailure(err)
		_ = s.auditf("key_load", "failed: %s", why)
		s.printf("key load failed: %s", why)
		return
	}
	_ = s.auditf("key_load", "%s", out)
	s.println(out)
}

// sameEngineer reports whether two engineer ids name one person: the
// engineer authority's directory compares ids without regard to case, so
// "cusA" and "CUSA" are one custodian and never two for dual control.
func sameEngineer(a, b string) bool { return strings.EqualFold(a, b) }

// isNo: "n" or "no", in any case. Like isYes, it makes no copy of l,
// which may be a component row typed at the y/n question.
func isNo(l []byte) bool {
	a := bytes.TrimSpace(l)
	return bytes.EqualFold(a, []byte("n")) || bytes.EqualFold(a, []byte("no"))
}

// isYes: "y" or "yes", in any case.
func isYes(l []byte) bool {
	a := bytes.TrimSpace(l)
	return bytes.EqualFold(a, []byte("y")) || bytes.EqualFold(a, []byte("yes"))
}

// keyLoadFailure words why a key or KBPK load failed by the error's class
// only. The error's own text may quote what was pasted (a TR-31 parser
// quotes the header field it refuses): when a custodian pastes a
// component at the key block prompt, that is key material, and the
// audit trail and the screen keep no part of it.
func keyLoadFailure(err error) string {
	for _, c := range []struct {
		err  error
		what string
	}{
		{keyload.ErrNoKBPK, "no KBPK loaded: load it from two components first (kbpk component)"},
		{tr31.ErrMAC, "the key block does not verify under the loaded KBPK (made under another KBPK, or altered)"},
		{keyload.ErrUsage, "key usage not accepted: a DUKPT initial key (B1), mode of use X or N, not exportable, " +
			"of the terminal's DUKPT mode and no stronger than the KBPK"},
		{dukptkeys.ErrKSNReuse, "this initial KSN was already used on this terminal: load an initial key with a new KSN"},
		{keyload.ErrKSN, "the key block has no usable initial KSN (missing or malformed)"},
		{keyload.ErrNoDUKPT, "this terminal has no DUKPT slot"},
		{keyload.ErrBlock, "not a TR-31 key block this terminal takes (its format, version or KBPK)"},
		{keyload.ErrComponent, "unusable key components (length, equal, all zeros, or a weak key)"},
		{keyload.ErrAlgorithm, "unknown key algorithm"},
	} {
		if errors.Is(err, c.err) {
			return c.what
		}
	}
	return "refused: the key store could not take it"
}
