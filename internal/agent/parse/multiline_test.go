package parse

import (
	"strings"
	"testing"
	"time"
)

// TestMultilineBuiltinJava checks that the built-in rule keeps a logged
// Java error's header with its stack trace, and still separates stack
// traces printed without a header.
func TestMultilineBuiltinJava(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		want  []string
	}{
		{"logback header with sleuth ids", []string{
			"2026-11-24 19:01:02.345 ERROR [checkout,5f1c2a9e7b3d4c10,7b3d4c105f1c2a9e] c.e.Checkout - payment failed",
			"java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.",
			"\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)",
			"\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)",
			"\tat com.example.shop.CheckoutService.pay(CheckoutService.java:88)",
			"Caused by: org.postgresql.util.PSQLException: Connection to db:5432 refused.",
			"\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl(ConnectionFactoryImpl.java:319)",
			"\t... 12 more",
			"2026-11-24 19:01:02.401 INFO [checkout,,] c.e.Checkout - retry scheduled",
		}, []string{
			"2026-11-24 19:01:02.345 ERROR [checkout,5f1c2a9e7b3d4c10,7b3d4c105f1c2a9e] c.e.Checkout - payment failed\n" +
				"java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.\n" +
				"\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)\n" +
				"\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)\n" +
				"\tat com.example.shop.CheckoutService.pay(CheckoutService.java:88)\n" +
				"Caused by: org.postgresql.util.PSQLException: Connection to db:5432 refused.\n" +
				"\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl(ConnectionFactoryImpl.java:319)\n" +
				"\t... 12 more",
			"2026-11-24 19:01:02.401 INFO [checkout,,] c.e.Checkout - retry scheduled",
		}},
		{"spring boot layout, suppressed and omitted frames", []string{
			"2026-11-24T19:05:11.020Z ERROR 4211 --- [orders] [nio-8080-exec-7] o.a.c.c.C.[.[.[/].[dispatcherServlet]    : Servlet.service() threw exception",
			"java.lang.IllegalStateException: order 8812 has no lines",
			"\tat com.example.orders.OrderValidator.check(OrderValidator.java:42)",
			"\tSuppressed: java.io.UncheckedIOException: close failed",
			"\t\tat com.example.orders.Export.close(Export.java:19)",
			"\t... 31 common frames omitted",
			"2026-11-24T19:05:11.030Z  WARN 4211 --- [orders] [nio-8080-exec-7] c.e.o.Api : request aborted",
		}, []string{
			"2026-11-24T19:05:11.020Z ERROR 4211 --- [orders] [nio-8080-exec-7] o.a.c.c.C.[.[.[/].[dispatcherServlet]    : Servlet.service() threw exception\n" +
				"java.lang.IllegalStateException: order 8812 has no lines\n" +
				"\tat com.example.orders.OrderValidator.check(OrderValidator.java:42)\n" +
				"\tSuppressed: java.io.UncheckedIOException: close failed\n" +
				"\t\tat com.example.orders.Export.close(Export.java:19)\n" +
				"\t... 31 common frames omitted",
			"2026-11-24T19:05:11.030Z  WARN 4211 --- [orders] [nio-8080-exec-7] c.e.o.Api : request aborted",
		}},
		{"log4j2 default layout", []string{
			"19:01:02.345 [http-nio-8080-exec-3] ERROR com.example.shop.OrderService - could not reserve stock",
			"java.util.concurrent.TimeoutException",
			"\tat java.base/java.util.concurrent.FutureTask.get(FutureTask.java:204) ~[?:?]",
			"\tat com.example.shop.OrderService.reserve(OrderService.java:57) ~[shop.jar:1.4.2]",
			"19:01:02.350 [http-nio-8080-exec-3] INFO  com.example.shop.OrderService - order 77 queued",
		}, []string{
			"19:01:02.345 [http-nio-8080-exec-3] ERROR com.example.shop.OrderService - could not reserve stock\n" +
				"java.util.concurrent.TimeoutException\n" +
				"\tat java.base/java.util.concurrent.FutureTask.get(FutureTask.java:204) ~[?:?]\n" +
				"\tat com.example.shop.OrderService.reserve(OrderService.java:57) ~[shop.jar:1.4.2]",
			"19:01:02.350 [http-nio-8080-exec-3] INFO  com.example.shop.OrderService - order 77 queued",
		}},
		{"logback root cause first", []string{
			"2026-11-24 19:07:00,001 [main] ERROR c.e.Boot - start failed",
			"java.net.ConnectException: Connection refused",
			"\tat java.base/sun.nio.ch.Net.connect0(Native Method)",
			"Wrapped by: com.example.boot.StartupException: broker unreachable",
			"\tat com.example.boot.Main.main(Main.java:12)",
		}, []string{
			"2026-11-24 19:07:00,001 [main] ERROR c.e.Boot - start failed\n" +
				"java.net.ConnectException: Connection refused\n" +
				"\tat java.base/sun.nio.ch.Net.connect0(Native Method)\n" +
				"Wrapped by: com.example.boot.StartupException: broker unreachable\n" +
				"\tat com.example.boot.Main.main(Main.java:12)",
		}},
		{"levelled header without timestamp, indented message lines", []string{
			"ERROR [worker-2] c.e.Import - row rejected",
			"    file=customers.csv line=19",
			"com.example.imports.RowException: column 'email' is empty",
			"\tat com.example.imports.Row.validate(Row.java:30)",
			"INFO [worker-2] c.e.Import - continuing",
		}, []string{
			"ERROR [worker-2] c.e.Import - row rejected\n    file=customers.csv line=19\n" +
				"com.example.imports.RowException: column 'email' is empty\n" +
				"\tat com.example.imports.Row.validate(Row.java:30)",
			"INFO [worker-2] c.e.Import - continuing",
		}},
		{"java.util.logging two-line format", []string{
			"Nov 24, 2026 7:01:02 PM com.example.billing.InvoiceJob run",
			"SEVERE: invoice batch aborted",
			"java.lang.ArithmeticException: / by zero",
			"\tat com.example.billing.InvoiceJob.total(InvoiceJob.java:64)",
			"\tat com.example.billing.InvoiceJob.run(InvoiceJob.java:31)",
			"",
			"Nov 24, 2026 7:01:03 PM com.example.billing.InvoiceJob run",
			"INFO: next batch in 60s",
			"Nov 24, 2026 10:15:40 AM com.example.billing.InvoiceJob stop",
			"WARNING: stopping",
		}, []string{
			"Nov 24, 2026 7:01:02 PM com.example.billing.InvoiceJob run\nSEVERE: invoice batch aborted\n" +
				"java.lang.ArithmeticException: / by zero\n" +
				"\tat com.example.billing.InvoiceJob.total(InvoiceJob.java:64)\n" +
				"\tat com.example.billing.InvoiceJob.run(InvoiceJob.java:31)",
			"",
			"Nov 24, 2026 7:01:03 PM com.example.billing.InvoiceJob run\nINFO: next batch in 60s",
			"Nov 24, 2026 10:15:40 AM com.example.billing.InvoiceJob stop\nWARNING: stopping",
		}},
		{"bare printStackTrace at start of file", []string{
			"java.io.FileNotFoundException: /etc/shop/config.yaml (No such file or directory)",
			"\tat java.base/java.io.FileInputStream.open0(Native Method)",
			"\tat com.example.shop.Config.load(Config.java:21)",
			"using built-in defaults",
		}, []string{
			"java.io.FileNotFoundException: /etc/shop/config.yaml (No such file or directory)\n" +
				"\tat java.base/java.io.FileInputStream.open0(Native Method)\n" +
				"\tat com.example.shop.Config.load(Config.java:21)",
			"using built-in defaults",
		}},
		{"second exception after a complete stack", []string{
			"2026-11-24 19:10:00.000 ERROR [cart,,] c.e.Cart - lookup failed",
			"java.lang.NullPointerException: Cannot invoke \"Item.price()\" because \"item\" is null",
			"\tat com.example.cart.Cart.total(Cart.java:48)",
			"java.lang.IllegalStateException: cache closed",
			"\tat com.example.cart.Cache.get(Cache.java:12)",
		}, []string{
			"2026-11-24 19:10:00.000 ERROR [cart,,] c.e.Cart - lookup failed\n" +
				"java.lang.NullPointerException: Cannot invoke \"Item.price()\" because \"item\" is null\n" +
				"\tat com.example.cart.Cart.total(Cart.java:48)",
			"java.lang.IllegalStateException: cache closed\n\tat com.example.cart.Cache.get(Cache.java:12)",
		}},
		{"exception after a blank line or plain text", []string{
			"2026-11-24 19:11:00.000 INFO [cart,,] c.e.Cart - started",
			"",
			"java.lang.OutOfMemoryError: Java heap space",
			"\tat com.example.cart.Loader.fill(Loader.java:80)",
			"reloading catalogue",
			"com.example.cart.CatalogueException: empty",
			"\tat com.example.cart.Loader.load(Loader.java:20)",
		}, []string{
			"2026-11-24 19:11:00.000 INFO [cart,,] c.e.Cart - started",
			"",
			"java.lang.OutOfMemoryError: Java heap space\n\tat com.example.cart.Loader.fill(Loader.java:80)",
			"reloading catalogue",
			"com.example.cart.CatalogueException: empty\n\tat com.example.cart.Loader.load(Loader.java:20)",
		}},
		{"uncaught exception handler output starts a record", []string{
			"2026-11-24 19:12:00.000 INFO [main] c.e.App - shutting down",
			"Exception in thread \"scheduler-1\" java.lang.IllegalStateException: pool closed",
			"\tat com.example.app.Scheduler.tick(Scheduler.java:9)",
		}, []string{
			"2026-11-24 19:12:00.000 INFO [main] c.e.App - shutting down",
			"Exception in thread \"scheduler-1\" java.lang.IllegalStateException: pool closed\n\tat com.example.app.Scheduler.tick(Scheduler.java:9)",
		}},
		{"text that only resembles an exception line", []string{
			"2026-11-24 19:13:00.000 INFO [edge,,] c.e.Probe - checking upstreams",
			"api.example.com: reachable",
			"Upstream.Status:ok",
			"shop.Orders: 3 pending",
		}, []string{
			"2026-11-24 19:13:00.000 INFO [edge,,] c.e.Probe - checking upstreams",
			"api.example.com: reachable",
			"Upstream.Status:ok",
			"shop.Orders: 3 pending",
		}},
		{"python traceback logged with a header", []string{
			"2026-11-24 19:14:00,123 ERROR worker: job 91 failed",
			"Traceback (most recent call last):",
			`  File "/app/jobs.py", line 40, in run`,
			"    total = sum(prices) / len(prices)",
			"ZeroDivisionError: division by zero",
			"jobs.Retry: scheduled",
			"2026-11-24 19:14:01,000 INFO worker: idle",
		}, []string{
			"2026-11-24 19:14:00,123 ERROR worker: job 91 failed\nTraceback (most recent call last):\n" +
				"  File \"/app/jobs.py\", line 40, in run\n    total = sum(prices) / len(prices)\nZeroDivisionError: division by zero",
			"jobs.Retry: scheduled",
			"2026-11-24 19:14:01,000 INFO worker: idle",
		}},
		{"bare python traceback and go panic unchanged", []string{
			"Traceback (most recent call last):",
			`  File "/app/main.py", line 3, in <module>`,
			"KeyError: 'sku'",
			"panic: assignment to entry in nil map",
			"",
			"goroutine 7 [running]:",
			"main.(*Store).Put(...)",
			"\t/src/store.go:21 +0x2c",
			"2026-11-24T19:15:00Z restarted",
		}, []string{
			"Traceback (most recent call last):\n  File \"/app/main.py\", line 3, in <module>\nKeyError: 'sku'",
			"panic: assignment to entry in nil map\n\ngoroutine 7 [running]:\nmain.(*Store).Put(...)\n\t/src/store.go:21 +0x2c",
			"2026-11-24T19:15:00Z restarted",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := joinAll(t, DefaultMultilineOptions(), tc.lines...)
			if strings.Join(got, "¶") != strings.Join(tc.want, "¶") {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestJavaExceptionLine(t *testing.T) {
	cases := []struct {
		line string
		want bool
	}{
		{"java.lang.NullPointerException", true},
		{"java.lang.IllegalStateException: bad state", true},
		{"com.zaxxer.hikari.pool.HikariPool$PoolInitializationException: Failed to initialize pool", true},
		{"org.example.Err:", true},
		{"scala.MatchError: 3 (of class java.lang.Integer)", true},
		{"NullPointerException", false}, // unqualified: ordinary text is too likely
		{"api.example.com: reachable", false},
		{"Upstream.Status:ok", false},
		{"java.lang.: x", false},
		{"java..Foo", false},
		{"java.lang.Foo bar", false},
		{"1java.Foo: x", false},
		{"", false},
	}
	for _, tc := range cases {
		if got := javaExceptionLine([]byte(tc.line)); got != tc.want {
			t.Errorf("javaExceptionLine(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}

// BenchmarkJoinerBuiltin feeds a mix of single-line headers and logged
// Java errors with stacks through the built-in rule.
func BenchmarkJoinerBuiltin(b *testing.B) {
	var lines [][]byte
	for i := range 1000 {
		lines = append(lines, []byte("2026-11-24 19:01:02.345 INFO [shop,5f1c2a9e7b3d4c10,7b3d4c105f1c2a9e] c.e.Checkout - order accepted"))
		if i%10 == 0 {
			lines = append(lines,
				[]byte("2026-11-24 19:01:02.345 ERROR [shop,5f1c2a9e7b3d4c10,7b3d4c105f1c2a9e] c.e.Checkout - payment failed"),
				[]byte("java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available"),
				[]byte("\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)"),
				[]byte("\tat com.example.shop.CheckoutService.pay(CheckoutService.java:88)"),
				[]byte("Caused by: java.net.ConnectException: Connection refused"),
				[]byte("\t... 12 more"))
		}
	}
	j, err := NewJoiner(DefaultMultilineOptions())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(0, 0)
	var out []Joined
	b.ReportAllocs()
	for b.Loop() {
		for i, l := range lines {
			out = j.Add(out[:0], l, int64(i), now)
		}
		out = j.Flush(out[:0])
	}
	b.ReportMetric(float64(len(lines)*b.N)/b.Elapsed().Seconds(), "lines/s")
}
