package cli

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// socketOwner finds the socket in /proc/net/tcp and /proc/net/tcp6 (an
// IPv6 socket talking to 127.0.0.1 lists it as ::ffff:127.0.0.1, the
// default for Java) and returns its uid column (proc(5): /proc/net/tcp;
// an accepted socket carries its listener's owner).
func socketOwner(localAddr, remoteAddr string) (int, error) {
	local, err := addrPort(localAddr)
	if err != nil {
		return 0, err
	}
	remote, err := addrPort(remoteAddr)
	if err != nil {
		return 0, err
	}
	for _, f := range []struct {
		path string
		v6   bool
	}{{"/proc/net/tcp", false}, {"/proc/net/tcp6", true}} {
		l, r := procAddr(local, f.v6), procAddr(remote, f.v6)
		if l == "" || r == "" {
			continue
		}
		uid, found, err := scanProcNet(f.path, l, r)
		if err != nil && !os.IsNotExist(err) {
			return 0, err
		}
		if found {
			return uid, nil
		}
	}
	return 0, fmt.Errorf("no socket %s -> %s in /proc/net/tcp", local, remote)
}

func scanProcNet(path, local, remote string) (uid int, found bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header line
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid …
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || fields[1] != local || fields[2] != remote {
			continue
		}
		uid, err := strconv.Atoi(fields[7])
		if err != nil {
			return 0, false, fmt.Errorf("%s: uid %q: %w", path, fields[7], err)
		}
		return uid, true, nil
	}
	return 0, false, sc.Err()
}

// procAddr is ap as /proc/net/tcp{,6} print it: the address as 32-bit
// words in host byte order, each in hex, then ":" and the port in hex.
// "" when the address cannot appear in that table.
func procAddr(ap netip.AddrPort, v6 bool) string {
	a := ap.Addr().Unmap()
	var raw []byte
	switch {
	case !v6 && a.Is4():
		b := a.As4()
		raw = b[:]
	case v6:
		b := netip.AddrFrom16(a.As16()).As16()
		raw = b[:]
	default:
		return ""
	}
	var sb strings.Builder
	for i := 0; i < len(raw); i += 4 {
		sb.WriteString(strings.ToUpper(hex.EncodeToString(binary.BigEndian.AppendUint32(nil, binary.NativeEndian.Uint32(raw[i:i+4])))))
	}
	return fmt.Sprintf("%s:%04X", sb.String(), ap.Port())
}
