package daemon

import (
	"fmt"

	"posd/terminal/ota"
	"posd/terminal/risk"
)

// mergeLimits sets the limits of a bundle's "limits" section over r (the
// configuration's rules with the bundle's "risk" section). The section's
// keys were checked by ota.ParseLimits; the caller validates the result.
func mergeLimits(r *risk.Rules, l *ota.Limits) error {
	set := func(group string, m map[string]int64, fields map[string]*int64, counts map[string]*int) error {
		for k, v := range m {
			switch {
			case fields[k] != nil:
				*fields[k] = v
			case counts[k] != nil:
				*counts[k] = int(v)
			default:
				return fmt.Errorf("%s.%s is not a limit this firmware knows", group, k)
			}
		}
		return nil
	}
	if err := set("max_amount", l.MaxAmount, map[string]*int64{"swipe": &r.MaxAmount.Swipe, "insert": &r.MaxAmount.Insert,
		"tap": &r.MaxAmount.Tap, "qr": &r.MaxAmount.QR, "face": &r.MaxAmount.Face}, nil); err != nil {
		return err
	}
	if err := set("no_cvm_limit", l.NoCVMLimit, map[string]*int64{"swipe": &r.CVM.NoCVMLimit.Swipe, "insert": &r.CVM.NoCVMLimit.Insert,
		"tap": &r.CVM.NoCVMLimit.Tap}, nil); err != nil {
		return err
	}
	if err := set("offline", l.Offline, map[string]*int64{"floor_limit": &r.Offline.FloorLimit, "max_amount": &r.Offline.MaxAmount},
		map[string]*int{"max_count": &r.Offline.MaxCount}); err != nil {
		return err
	}
	return set("velocity", l.Velocity, map[string]*int64{"max_amount": &r.Velocity.MaxAmount},
		map[string]*int{"max_count": &r.Velocity.MaxCount})
}

// hintToOTA is the host client's hint callback: the acquirer said an
// update waits, the OTA loop checks soon (jittered, at most once a
// minute for hints; see ota.PollOpts). It never blocks a sale.
func (p *otaPart) hintToOTA() {
	select {
	case p.hostHint <- struct{}{}:
	default:
	}
}
