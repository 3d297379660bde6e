package proxy

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// gratuitousARP broadcasts an ARP request for ip from link's MAC (sender
// and target ip both ip), so neighbours update their caches at once when
// the address moves to this node.
func (a *announcer) gratuitousARP(link netlink.Link, ip net.IP) error {
	mac := link.Attrs().HardwareAddr
	if len(mac) != 6 {
		return fmt.Errorf("interface %s has no ethernet address", link.Attrs().Name)
	}
	frame := garpFrame(mac, ip)
	return inNetNS(a.netnsFd, func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ARP)))
		if err != nil {
			return fmt.Errorf("opening packet socket: %w", err)
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: link.Attrs().Index, Halen: 6}
		copy(sa.Addr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		return unix.Sendto(fd, frame, 0, sa)
	})
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// garpFrame builds the Ethernet frame of a gratuitous ARP request.
func garpFrame(mac net.HardwareAddr, ip net.IP) []byte {
	b := make([]byte, 0, 42)
	b = append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	b = append(b, mac...)
	b = binary.BigEndian.AppendUint16(b, unix.ETH_P_ARP)
	b = binary.BigEndian.AppendUint16(b, 1)      // hardware: ethernet
	b = binary.BigEndian.AppendUint16(b, 0x0800) // protocol: IPv4
	b = append(b, 6, 4)
	b = binary.BigEndian.AppendUint16(b, 1) // request
	b = append(b, mac...)
	b = append(b, ip.To4()...)
	b = append(b, 0, 0, 0, 0, 0, 0)
	b = append(b, ip.To4()...)
	return b
}
