package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// SQLite's write-ahead log format (https://www.sqlite.org/fileformat.html#the_write_ahead_log).
const (
	walHeaderSize      = 32
	walFrameHeaderSize = 24
	walMagic           = 0x377f0682 // low bit set: checksums over big-endian words
	walVersion         = 3007000
)

// checkWAL looks for damage that SQLite would silently treat as the end of the log, so that
// committed transactions after it would be lost without a word: a log whose header is not
// valid, or a break in the chain of frames followed by commit frames of the same log
// generation (same salts). Frames of an older generation after the valid prefix are normal
// (the log is reused from the start after a checkpoint) and are not reported.
//
// unclean says the last server did not close the database; the log must then exist, since
// SQLite deletes it only on a clean close.
func checkWAL(dbPath string, unclean bool) error {
	path := dbPath + "-wal"
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if unclean {
			return fmt.Errorf("sqlite: %w: %s was not closed cleanly (%s exists) but its write-ahead log %s is missing, "+
				"so the transactions in it would be lost", ErrLogDamaged, dbPath, lockPath(dbPath), path)
		}
		return nil
	case err != nil:
		return fmt.Errorf("sqlite: read %s: %w", path, err)
	case len(data) == 0:
		return nil
	}
	if err := walFrames(data); err != nil {
		return fmt.Errorf("sqlite: %w: write-ahead log %s: %v", ErrLogDamaged, path, err)
	}
	return nil
}

// walFrames validates a non-empty log.
func walFrames(data []byte) error {
	if len(data) < walHeaderSize {
		return fmt.Errorf("%d bytes, shorter than its header", len(data))
	}
	be := binary.BigEndian
	magic := be.Uint32(data)
	if magic&^1 != walMagic || be.Uint32(data[4:]) != walVersion {
		return errors.New("the header is not a SQLite write-ahead log header")
	}
	order := binary.ByteOrder(binary.LittleEndian)
	if magic&1 == 1 {
		order = binary.BigEndian
	}
	s0, s1 := walChecksum(order, data[:24], 0, 0)
	if s0 != be.Uint32(data[24:]) || s1 != be.Uint32(data[28:]) {
		return errors.New("the header checksum does not match")
	}
	pageSize := int(be.Uint32(data[8:]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize&(pageSize-1) != 0 {
		return fmt.Errorf("the header gives page size %d", pageSize)
	}
	salt := data[16:24]
	frameSize := walFrameHeaderSize + pageSize
	off := walHeaderSize
	// The valid prefix: frames of this generation whose running checksum holds.
	for ; off+frameSize <= len(data); off += frameSize {
		h := data[off : off+walFrameHeaderSize]
		if string(h[8:16]) != string(salt) {
			break
		}
		s0, s1 = walChecksum(order, h[:8], s0, s1)
		s0, s1 = walChecksum(order, data[off+walFrameHeaderSize:off+frameSize], s0, s1)
		if s0 != be.Uint32(h[16:]) || s1 != be.Uint32(h[20:]) {
			break
		}
	}
	for bad := off; off+frameSize <= len(data); off += frameSize {
		h := data[off : off+walFrameHeaderSize]
		if string(h[8:16]) == string(salt) && be.Uint32(h[4:]) != 0 && off != bad {
			return fmt.Errorf("frame at offset %d is damaged and commits of the same log follow it", bad)
		}
	}
	return nil
}

// walChecksum is SQLite's running checksum over 32-bit word pairs.
func walChecksum(order binary.ByteOrder, b []byte, s0, s1 uint32) (uint32, uint32) {
	for i := 0; i+8 <= len(b); i += 8 {
		s0 += order.Uint32(b[i:]) + s1
		s1 += order.Uint32(b[i+4:]) + s0
	}
	return s0, s1
}
