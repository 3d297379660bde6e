package lab

import (
	"net"
	"testing"
)

func TestParseProcNetTCP(t *testing.T) {
	data := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:192B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0
   1: 00000000:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 23456 1 0000000000000000 100 0 0 10 0
   2: 0100C80A:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 34567 1 0000000000000000 100 0 0 10 0
`
	got := parseProcNetTCP(data)
	want := []listener{
		{Addr: net.IPv4(127, 0, 0, 1).To4(), Port: 6443, Inode: "12345"},
		{Addr: net.IPv4zero.To4(), Port: 5000, Inode: "23456"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d listeners, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !got[i].Addr.Equal(want[i].Addr) || got[i].Port != want[i].Port || got[i].Inode != want[i].Inode {
			t.Errorf("listener %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestPortTakenFindsOurListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	who, taken := portTaken(port, "127.0.0.1")
	if !taken {
		t.Fatalf("port %d: not seen as taken", port)
	}
	t.Logf("taken: %s", who)
	if _, taken := portTaken(port, "10.200.0.1"); taken {
		t.Errorf("port %d on 127.0.0.1 reported as clashing with 10.200.0.1", port)
	}
}
