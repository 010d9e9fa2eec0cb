package cli

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
)

// errOwnerUnknown: the platform does not say which user owns a socket
// (everywhere but Linux), so no check is made.
var errOwnerUnknown = errors.New("this platform does not say which user owns a socket")

// socketOwnerFunc is the uid owning the TCP socket whose own end is local
// and whose peer is remote ("ip:port" each), as the kernel lists it.
// errOwnerUnknown where the platform cannot say.
type socketOwnerFunc func(local, remote string) (int, error)

// trustedUID: a loopback peer run by this user or by root (who can read
// everything this user can anyway). Any other user on the machine is a
// stranger: it must not get the credentials serve hands out, nor hand
// serve the credentials it reads its secret with.
func trustedUID(uid int) bool { return uid == os.Getuid() || uid == 0 }

// addrPort is a net.Addr or a "host:port" string as a netip.AddrPort.
func addrPort(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: %w", s, err)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// peerOwner is the uid of the process at the other end of a connection
// to a loopback server: client is the connection's remote address as the
// server sees it, server its local address.
func peerOwner(owner socketOwnerFunc, client, server string) (int, error) {
	if owner == nil {
		owner = socketOwner
	}
	return owner(client, server)
}

// connOwner is the uid of the process that accepted conn, a connection
// this process opened to a loopback server.
func connOwner(owner socketOwnerFunc, conn net.Conn) (int, error) {
	return peerOwner(owner, conn.RemoteAddr().String(), conn.LocalAddr().String())
}
