package spireconf

import (
	"reflect"
	"strconv"
)

func itoa(i int) string { return strconv.Itoa(i) }

func equal(a, b any) bool { return reflect.DeepEqual(a, b) }
