package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// rauc is the fake updater the policy test exports: one method.
type rauc struct{}

func (rauc) GetPrimary() (string, *dbus.Error) { return "rootfs.0", nil }

// TestDBusPolicyClient is the client process of
// TestDBusPolicyLetsOnlyPosdDriveRAUC: it calls RAUC on the bus it is
// given and prints the answer or the error's name.
func TestDBusPolicyClient(t *testing.T) {
	addr := os.Getenv("POSD_TEST_DBUS_CLIENT")
	if addr == "" {
		t.Skip("run by TestDBusPolicyLetsOnlyPosdDriveRAUC")
	}
	c, err := dbus.Connect(addr)
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer c.Close()
	var primary string
	err = c.Object("de.pengutronix.rauc", "/").Call("de.pengutronix.rauc.Installer.GetPrimary", 0).Store(&primary)
	if e, ok := err.(dbus.Error); ok {
		fmt.Println("error:", e.Name)
		return
	}
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("answer:", primary)
}

// TestDBusPolicyLetsOnlyPosdDriveRAUC runs a bus daemon whose default
// policy lets anyone call RAUC (as RAUC's own policy file does), with
// scripts/posd-dbus.conf included after it: another local user is
// refused; the user the file names gets through.
func TestDBusPolicyLetsOnlyPosdDriveRAUC(t *testing.T) {
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon is not installed (scripts/setup.sh installs it), so posd's D-Bus policy is not tested")
	}
	policy, err := os.ReadFile(dbusFile)
	if err != nil {
		t.Fatal(err)
	}
	// The client: as root, the test runs it as nobody; otherwise as the
	// test's own user.
	var cred *syscall.Credential
	other := "nobody"
	if os.Getuid() == 0 {
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
	} else {
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		other = u.Username
	}
	if other == "posd" {
		t.Skip("the test runs as posd itself")
	}
	for _, c := range []struct {
		name   string
		policy []byte
		want   string
	}{
		{"another local user", policy, "error: org.freedesktop.DBus.Error.AccessDenied"},
		{"the user posd.service runs as", bytes.ReplaceAll(policy, []byte(`user="posd"`), []byte(`user="`+other+`"`)), "answer: rootfs.0"},
	} {
		got := callRAUC(t, daemon, c.policy, cred)
		if got != c.want {
			t.Errorf("%s calling RAUC: %q, want %q", c.name, got, c.want)
		}
	}
}

// callRAUC starts a bus with the policy, exports the fake RAUC on it and
// returns what the client process printed.
func callRAUC(t *testing.T, daemon string, policy []byte, cred *syscall.Credential) string {
	t.Helper()
	// A directory the client's user can reach the socket in.
	dir, err := os.MkdirTemp("", "posd-dbus-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "posd.conf"), policy, 0o644); err != nil {
		t.Fatal(err)
	}
	// The system bus's default policy (dbus's system.conf), RAUC's
	// policy file (anyone may call it; root owns the name), then posd's,
	// in the order /etc/dbus-1/system.d sorts them.
	conf := `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>posd-test</type>
  <listen>unix:path=` + filepath.Join(dir, "bus") + `</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
  </policy>
  <policy context="default">
    <allow send_destination="de.pengutronix.rauc"/>
  </policy>
  <policy user="root">
    <allow own="de.pengutronix.rauc"/>
  </policy>
  <include>` + filepath.Join(dir, "posd.conf") + `</include>
</busconfig>
`
	confPath := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+confPath, "--nofork", "--print-address")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon gave no address: %v %s", err, stderr.String())
	}
	addr := strings.TrimSpace(line)
	if err := os.Chmod(filepath.Join(dir, "bus"), 0o777); err != nil {
		t.Fatal(err)
	}

	svc, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if err := svc.Export(rauc{}, "/", "de.pengutronix.rauc.Installer"); err != nil {
		t.Fatal(err)
	}
	if r, err := svc.RequestName("de.pengutronix.rauc", dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("owning RAUC's name: %v %v", r, err)
	}

	// The client runs this test binary, copied where its user can
	// execute it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "client.test")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	client := exec.Command(exe, "-test.run=^TestDBusPolicyClient$", "-test.count=1")
	client.Env = append(os.Environ(), "POSD_TEST_DBUS_CLIENT="+addr)
	client.Dir = "/"
	if cred != nil {
		client.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	done := make(chan struct{})
	var res []byte
	var runErr error
	go func() {
		res, runErr = client.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		client.Process.Kill()
		t.Fatal("the client did not answer")
	}
	for _, l := range strings.Split(string(res), "\n") {
		if strings.HasPrefix(l, "answer: ") || strings.HasPrefix(l, "error: ") || strings.HasPrefix(l, "connect: ") {
			return l
		}
	}
	t.Fatalf("the client printed no answer (%v):\n%s", runErr, res)
	return ""
}
