package netguard_test

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// Record types the test DNS server answers.
const (
	typeA    = 1
	typeAAAA = 28
)

// answerFunc gives the addresses for a name (lower case, no trailing dot)
// the nth time (from 1) it is asked for that record type; nil means the
// name does not exist.
type answerFunc func(name string, qtype uint16, n int) []netip.Addr

// dnsServer is a real DNS server on 127.0.0.1 UDP, answering A and AAAA
// questions from answer, encoded by hand after RFC 1035 section 4. It
// returns a resolver that asks only it.
func dnsServer(t *testing.T, answer answerFunc) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	var mu sync.Mutex
	asked := map[string]int{}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			name, qtype, question, ok := parseQuery(buf[:n])
			if !ok {
				continue
			}
			mu.Lock()
			key := name + "/" + string(rune(qtype))
			asked[key]++
			nth := asked[key]
			mu.Unlock()
			_, _ = pc.WriteTo(reply(buf[:2], question, qtype, answer(name, qtype, nth)), from)
		}
	}()
	addr := pc.LocalAddr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", addr)
		},
	}
}

// parseQuery reads a query's one question: its name, its type, and the
// question's bytes to echo.
func parseQuery(msg []byte) (name string, qtype uint16, question []byte, ok bool) {
	if len(msg) < 12 || binary.BigEndian.Uint16(msg[4:6]) != 1 {
		return "", 0, nil, false
	}
	var labels []string
	i := 12
	for {
		if i >= len(msg) {
			return "", 0, nil, false
		}
		l := int(msg[i])
		i++
		if l == 0 {
			break
		}
		if l > 63 || i+l > len(msg) {
			return "", 0, nil, false
		}
		labels = append(labels, string(msg[i:i+l]))
		i += l
	}
	if i+4 > len(msg) {
		return "", 0, nil, false
	}
	qtype = binary.BigEndian.Uint16(msg[i : i+2])
	return strings.ToLower(strings.Join(labels, ".")), qtype, msg[12 : i+4], true
}

// reply is an authoritative answer to the question with id: the addresses
// of qtype's family, or "no such name" when addrs is nil.
func reply(id, question []byte, qtype uint16, addrs []netip.Addr) []byte {
	var rrs [][]byte
	for _, a := range addrs {
		if (qtype == typeA) != a.Is4() || (qtype != typeA && qtype != typeAAAA) {
			continue
		}
		rr := []byte{0xc0, 12} // the name: a pointer to the question's
		rr = binary.BigEndian.AppendUint16(rr, qtype)
		rr = binary.BigEndian.AppendUint16(rr, 1) // class IN
		rr = binary.BigEndian.AppendUint32(rr, 0) // TTL
		rr = binary.BigEndian.AppendUint16(rr, uint16(a.BitLen()/8))
		rrs = append(rrs, append(rr, a.AsSlice()...))
	}
	flags := uint16(0x8580) // a response, authoritative, recursion desired and available
	if addrs == nil {
		flags |= 3 // NXDOMAIN
	}
	msg := append([]byte{}, id...)
	msg = binary.BigEndian.AppendUint16(msg, flags)
	msg = binary.BigEndian.AppendUint16(msg, 1) // questions
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(rrs)))
	msg = binary.BigEndian.AppendUint32(msg, 0) // authority and additional
	msg = append(msg, question...)
	for _, rr := range rrs {
		msg = append(msg, rr...)
	}
	return msg
}

// zone answers from a fixed table, the same every time.
func zone(names map[string][]string) answerFunc {
	return func(name string, _ uint16, _ int) []netip.Addr {
		ss, ok := names[name]
		if !ok {
			return nil
		}
		addrs := []netip.Addr{}
		for _, s := range ss {
			addrs = append(addrs, netip.MustParseAddr(s))
		}
		return addrs
	}
}
