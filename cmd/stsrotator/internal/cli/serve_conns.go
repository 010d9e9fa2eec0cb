package cli

import (
	"net"
	"sync"
)

// maxServeConns bounds the connections serve (and exec's endpoint) holds
// open at once. A connection costs serve about 5 KB and a descriptor; a
// local process opening them faster than the header timeout closes them
// (5 s) would otherwise grow serve up to its descriptor limit, which Go
// raises to the hard limit (often 524288: gigabytes). SDK clients hold
// one or a few connections each; past the bound, new ones wait in the
// kernel's accept queue until one closes.
const maxServeConns = 1024

// limitConns is ln accepting at most max open connections at a time
// (golang.org/x/net/netutil.LimitListener's approach, not a dependency
// this module has).
func limitConns(ln net.Listener, max int) net.Listener {
	return &cappedListener{Listener: ln, slots: make(chan struct{}, max), done: make(chan struct{})}
}

type cappedListener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *cappedListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &slotConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *cappedListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// slotConn gives its slot back when closed, once.
type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
