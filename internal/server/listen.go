package server

import (
	"fmt"
	"net"
	"os"
	"strconv"
)

// listenFD is the first socket a service manager passes (SD_LISTEN_FDS_START).
const listenFD = 3

// Listen returns the socket to serve on: the one passed by a service
// manager, when this process was started by socket activation (systemd's
// protocol: LISTEN_PID is this process, LISTEN_FDS counts the sockets,
// the first is file descriptor 3), else a new TCP socket bound to addr.
// An inherited socket is taken once: the variables are then removed, so
// neither a second call nor a child process takes it again.
func Listen(addr string) (net.Listener, error) {
	if ln, err := inherited(); ln != nil || err != nil {
		return ln, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening: %w", err)
	}
	return ln, nil
}

// inherited is the socket passed by socket activation, or nil.
func inherited() (net.Listener, error) {
	pid, _ := strconv.Atoi(os.Getenv("LISTEN_PID"))
	n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if pid != os.Getpid() || n < 1 {
		return nil, nil
	}
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		os.Unsetenv(v)
	}
	f := os.NewFile(listenFD, "LISTEN_FD_3")
	defer f.Close() // FileListener holds its own copy
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("socket activation: file descriptor 3 is not a listening socket: %w", err)
	}
	return ln, nil
}
