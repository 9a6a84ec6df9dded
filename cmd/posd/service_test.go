package main

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The files that install posd on a board (scripts/, named by the README).
const (
	unitFile     = "../../scripts/posd.service"
	sysusersFile = "../../scripts/posd.sysusers"
	dbusFile     = "../../scripts/posd-dbus.conf"
	polkitFile   = "../../scripts/posd-polkit.rules"
)

// unitKeys reads a systemd unit's [Service] keys, and its [Unit] keys as
// "Unit.KEY" (a key given twice keeps its values in order).
func unitKeys(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: %q is not KEY=VALUE", path, line)
			}
			keys[k] = append(keys[k], v)
		case section == "[Unit]":
			if k, v, ok := strings.Cut(line, "="); ok {
				keys["Unit."+k] = append(keys["Unit."+k], v)
			}
		}
	}
	return keys
}

// one is the single value of key k.
func one(t *testing.T, keys map[string][]string, k string) string {
	t.Helper()
	if len(keys[k]) != 1 {
		t.Fatalf("posd.service: %s= given %d times, want once", k, len(keys[k]))
	}
	return keys[k][0]
}

// TestServiceUnitUnprivileged: systemd starts posd as its own user with
// no capability, in the groups of its devices, which the sysusers entry
// creates; the D-Bus and polkit rules name the same user.
func TestServiceUnitUnprivileged(t *testing.T) {
	keys := unitKeys(t, unitFile)
	user := one(t, keys, "User")
	if user == "" || user == "root" || user == "0" || one(t, keys, "Group") != user {
		t.Fatalf("posd.service runs as User=%q Group=%q, want its own user", user, keys["Group"])
	}
	for k, want := range map[string]string{
		"CapabilityBoundingSet": "", "AmbientCapabilities": "", "NoNewPrivileges": "yes", "LimitCORE": "0",
		"ProtectSystem": "strict", "ReadWritePaths": "/var/lib/posd", "StateDirectory": "posd", "StateDirectoryMode": "0700",
		"UMask": "0077", "Type": "notify",
	} {
		if got := one(t, keys, k); got != want {
			t.Errorf("posd.service: %s=%q, want %q", k, got, want)
		}
	}
	// A data partition that failed to mount must not look like a fresh
	// terminal: posd then starts only once /var/lib/posd is mounted.
	if got := one(t, keys, "Unit.RequiresMountsFor"); got != "/var/lib/posd" {
		t.Errorf("posd.service: RequiresMountsFor=%q, want /var/lib/posd", got)
	}
	groups := strings.Fields(one(t, keys, "SupplementaryGroups"))
	for _, g := range []string{"dialout", "gpio", "i2c", "spi", "video", "input", "tss"} {
		if !slices.Contains(groups, g) {
			t.Errorf("posd.service: SupplementaryGroups lacks %s (the board's devices)", g)
		}
	}

	// sysusers creates the user and every group the unit names (a group
	// that does not exist stops the unit from starting).
	b, err := os.ReadFile(sysusersFile)
	if err != nil {
		t.Fatal(err)
	}
	var users, made []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "u":
			users = append(users, f[1])
		case len(f) >= 2 && f[0] == "g":
			made = append(made, f[1])
		}
	}
	if !slices.Equal(users, []string{user}) {
		t.Errorf("posd.sysusers creates users %v, want [%s]", users, user)
	}
	for _, g := range groups {
		if !slices.Contains(made, g) {
			t.Errorf("posd.sysusers does not create group %s, which posd.service needs", g)
		}
	}

	// Only root and posd drive RAUC; posd may reboot, nothing more.
	var bus struct {
		Policies []struct {
			Context string `xml:"context,attr"`
			User    string `xml:"user,attr"`
			Allow   []struct {
				Dest string `xml:"send_destination,attr"`
			} `xml:"allow"`
			Deny []struct {
				Dest string `xml:"send_destination,attr"`
			} `xml:"deny"`
		} `xml:"policy"`
	}
	b, err = os.ReadFile(dbusFile)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = false // the DOCTYPE
	if err := d.Decode(&bus); err != nil {
		t.Fatalf("posd-dbus.conf: %v", err)
	}
	allowed := map[string]bool{}
	denied := false
	for _, p := range bus.Policies {
		for _, a := range p.Allow {
			if a.Dest == "de.pengutronix.rauc" {
				allowed[p.User+p.Context] = true
			}
		}
		for _, a := range p.Deny {
			denied = denied || (a.Dest == "de.pengutronix.rauc" && p.Context == "default")
		}
	}
	if !denied || !allowed[user] || allowed["default"] || len(allowed) != 2 || !allowed["root"] {
		t.Errorf("posd-dbus.conf: RAUC denied by default %v, allowed to %v; want root and %s only", denied, allowed, user)
	}
	b, err = os.ReadFile(polkitFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `subject.user == "`+user+`"`) || strings.Count(string(b), "action.id ==") != 2 {
		t.Errorf("posd-polkit.rules must let %s reboot (two login1 actions) and nothing else:\n%s", user, b)
	}
}

// TestServiceFilesCheckedBySystemd: systemd's own parsers accept the unit
// without a warning and create the user from the sysusers entry.
func TestServiceFilesCheckedBySystemd(t *testing.T) {
	analyze, err1 := exec.LookPath("systemd-analyze")
	sysusers, err2 := exec.LookPath("systemd-sysusers")
	if err1 != nil || err2 != nil {
		t.Skip("systemd-analyze or systemd-sysusers is not installed (scripts/setup.sh installs systemd), so the unit is not checked by systemd")
	}
	dir := t.TempDir()
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	// verify wants the executable to exist: this test's own.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit = bytes.Replace(unit, []byte("ExecStart=/usr/local/bin/posd "), []byte("ExecStart="+self+" "), 1)
	path := filepath.Join(dir, "posd.service")
	if err := os.WriteFile(path, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("systemd-analyze verify posd.service: %v\n%s", err, out)
	}
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(sysusersFile)
	if out, err := exec.Command(sysusers, "--root="+root, abs).CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	passwd, _ := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	group, _ := os.ReadFile(filepath.Join(root, "etc", "group"))
	if !bytes.Contains(passwd, []byte("\nposd:")) && !bytes.HasPrefix(passwd, []byte("posd:")) ||
		!bytes.Contains(passwd, []byte(":/usr/sbin/nologin")) {
		t.Fatalf("no posd system user without a shell:\n%s", passwd)
	}
	keys := unitKeys(t, unitFile)
	for _, g := range strings.Fields(one(t, keys, "SupplementaryGroups")) {
		if !bytes.Contains(group, []byte("\n"+g+":")) && !bytes.HasPrefix(group, []byte(g+":")) {
			t.Errorf("group %s not created:\n%s", g, group)
		}
	}
}
