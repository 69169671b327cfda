//! The portal's HTML, rendered on the server. No inline scripts or styles (the Content-Security-Policy
//! forbids them): the look is `/static/portal.css`, the copy button and countdown `/static/portal.js`.

use std::fmt::Write as _;

use crate::config::HealthAuthority;
use crate::roles::{Role, Roles};
use crate::text::Text;

/// The officer shown in the header, with the CSRF token of the sign-out form.
#[derive(Debug, Clone, Copy)]
pub struct Officer<'a> {
    /// User name.
    pub username: &'a str,
    /// Roles.
    pub roles: Roles,
    /// CSRF token of the session.
    pub csrf: &'a str,
}

/// Escapes text for HTML element content and double-quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn role_names(roles: Roles) -> String {
    let names: Vec<&str> = roles
        .iter()
        .map(|r| match r {
            Role::Hotline => "hotline",
            Role::Event => "event",
            Role::HealthAuthority => "health authority",
            Role::Admin => "admin",
        })
        .collect();
    names.join(", ")
}

fn layout(t: &Text, title: &str, officer: Option<Officer<'_>>, head: &str, main: &str) -> String {
    let mut user = String::new();
    if let Some(o) = officer {
        let _ = write!(
            user,
            r#"<div class="who"><span>{signed} <strong>{name}</strong> · {role_l}: {role}</span>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{csrf}">
<button type="submit" class="link" id="sign-out">{out}</button></form></div>"#,
            signed = esc(t.signed_in_as),
            name = esc(o.username),
            role_l = esc(t.role),
            role = role_names(o.roles),
            csrf = esc(o.csrf),
            out = esc(t.sign_out),
        );
    }
    format!(
        r##"<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} · {brand}</title>
<link rel="stylesheet" href="/static/portal.css">
<script src="/static/portal.js" defer></script>
{head}</head>
<body>
<a class="skip" href="#main">{skip}</a>
<header class="top"><div class="brand"><span class="mark" aria-hidden="true">+</span> {brand}</div>{user}</header>
<main id="main" tabindex="-1">
{main}
</main>
<footer>{footer}</footer>
</body>
</html>
"##,
        lang = t.lang,
        title = esc(title),
        brand = esc(t.brand),
        skip = esc(t.skip_to_content),
        footer = esc(t.footer),
    )
}

fn alert(message: Option<&str>) -> String {
    message.map_or_else(String::new, |m| {
        format!(
            r#"<p class="alert" role="alert" id="message">{}</p>"#,
            esc(m)
        )
    })
}

/// The sign-in form; `username` refills the field after a failure; `sso` names the OpenID provider
/// when sign-in there is configured.
pub fn login(
    t: &Text,
    csrf: &str,
    error: Option<&str>,
    username: &str,
    sso: Option<&str>,
) -> String {
    let sso = sso.map_or_else(String::new, |name| {
        format!(
            r#"<p><a class="button-link" href="/oidc/login" id="sign-in-sso">{}</a></p>
<p>{}</p>"#,
            esc(&t.sign_in_with.replace("{provider}", name)),
            esc(t.or_local)
        )
    });
    let main = format!(
        r#"<section class="card narrow" aria-labelledby="h">
<h1 id="h">{title}</h1>
<p>{intro}</p>
{alert}
{sso}
<form method="post" action="/login" class="stack">
<input type="hidden" name="csrf" value="{csrf}">
<label for="username">{user_l}</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="64" value="{user}" autofocus>
<label for="password">{pass_l}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="256">
<button type="submit" id="sign-in">{sign_in}</button>
</form>
</section>"#,
        title = esc(t.login_title),
        intro = esc(t.login_intro),
        alert = alert(error),
        csrf = esc(csrf),
        user_l = esc(t.username),
        user = esc(username),
        pass_l = esc(t.password),
        sign_in = esc(t.sign_in),
    );
    layout(t, t.login_title, None, "", &main)
}

/// The one-time code form; `autofocus` only where nothing above it needs reading first.
fn code_form(t: &Text, action: &str, csrf: &str, autofocus: bool) -> String {
    format!(
        r#"<form method="post" action="{action}" class="stack">
<input type="hidden" name="csrf" value="{csrf}">
<label for="code">{label}</label>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{{6,7}}" maxlength="7" required{focus}>
<button type="submit" id="verify">{verify}</button>
</form>"#,
        csrf = esc(csrf),
        label = esc(t.totp_code),
        verify = esc(t.verify),
        focus = if autofocus { " autofocus" } else { "" },
    )
}

/// The second-factor form.
pub fn totp(t: &Text, csrf: &str, error: Option<&str>) -> String {
    let main = format!(
        r#"<section class="card narrow" aria-labelledby="h"><h1 id="h">{title}</h1><p>{intro}</p>{alert}{form}</section>"#,
        title = esc(t.totp_title),
        intro = esc(t.totp_intro),
        alert = alert(error),
        form = code_form(t, "/login/totp", csrf, true),
    );
    layout(t, t.totp_title, None, "", &main)
}

/// TOTP enrolment: the QR code (inline SVG), the secret for manual entry, and the confirmation form.
pub fn enrol(t: &Text, csrf: &str, qr_svg: &str, secret: &str, error: Option<&str>) -> String {
    let grouped: Vec<String> = secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let main = format!(
        r#"<section class="card narrow" aria-labelledby="h"><h1 id="h">{title}</h1><p>{intro}</p>{alert}
<figure class="qr" role="img" aria-label="{qr_label}">{qr_svg}</figure>
<p>{manual}</p><p class="secret" id="totp-secret" data-secret="{secret}">{grouped}</p>
{form}</section>"#,
        title = esc(t.enrol_title),
        intro = esc(t.enrol_intro),
        alert = alert(error),
        qr_label = esc(t.enrol_qr_label),
        manual = esc(t.enrol_manual),
        secret = esc(secret),
        grouped = esc(&grouped.join(" ")),
        form = code_form(t, "/totp/enrol", csrf, false),
    );
    layout(t, t.enrol_title, None, "", &main)
}

/// The start page: the issue button for the hotline role, the event form (with the health-authority
/// list) for the event role, an explanation for the others.
pub fn start(
    t: &Text,
    officer: Officer<'_>,
    message: Option<&str>,
    session_hours: u64,
    authorities: &[HealthAuthority],
) -> String {
    let mut boxes = String::new();
    if officer.roles.contains(Role::Hotline) {
        let _ = write!(
            boxes,
            r#"<section class="card" aria-labelledby="box"><h2 id="box">{box_t}</h2><p>{intro}</p>
<form method="post" action="/teletan"><input type="hidden" name="csrf" value="{csrf}">
<button type="submit" class="primary" id="issue-teletan">{issue}</button></form></section>"#,
            box_t = esc(t.teletan_box),
            intro = esc(t.teletan_intro),
            csrf = esc(officer.csrf),
            issue = esc(t.issue_teletan),
        );
    }
    if officer.roles.contains(Role::Event) && authorities.is_empty() {
        // A required list with nothing to pick would only make the browser say "select an item".
        let _ = write!(
            boxes,
            r#"<section class="card" aria-labelledby="event-box"><h2 id="event-box">{box_t}</h2>
<p class="note" id="no-authorities">{note}</p></section>"#,
            box_t = esc(t.event_box),
            note = esc(t.no_authorities),
        );
    } else if officer.roles.contains(Role::Event) {
        let options: String = authorities
            .iter()
            .map(|a| {
                format!(
                    r#"<option value="{}">{} ({})</option>"#,
                    esc(&a.nr),
                    esc(&a.name),
                    esc(&a.nr)
                )
            })
            .collect();
        let _ = write!(
            boxes,
            r#"<section class="card" aria-labelledby="event-box"><h2 id="event-box">{box_t}</h2><p>{intro}</p>
<form method="post" action="/teletan/event" class="stack"><input type="hidden" name="csrf" value="{csrf}">
<label for="authority">{label}</label>
<select id="authority" name="authority" required><option value="">{choose}</option>{options}</select>
<button type="submit" class="primary" id="issue-event-teletan">{issue}</button></form></section>"#,
            box_t = esc(t.event_box),
            intro = esc(t.event_intro),
            csrf = esc(officer.csrf),
            label = esc(t.authority),
            choose = esc(t.authority_choose),
            issue = esc(t.issue_event_teletan),
        );
    }
    if boxes.is_empty() {
        let _ = write!(
            boxes,
            r#"<section class="card"><p class="note" id="no-role">{}</p></section>"#,
            esc(t.no_issue_role)
        );
    }
    let main = format!(
        r#"<h1>{title}</h1>{alert}
{boxes}
<p class="hint">{hint}</p>"#,
        title = esc(t.start_title),
        alert = alert(message),
        hint = esc(&t
            .session_hint
            .replace("{hours}", &session_hours.to_string())),
    );
    layout(t, t.start_title, Some(officer), "", &main)
}

/// Groups a teleTAN for reading aloud: 3-3-4 (`ABC DEF GHJK`).
pub fn groups(tan: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = tan;
    for size in [3, 3] {
        if rest.len() > size && rest.is_char_boundary(size) {
            let (head, tail) = rest.split_at(size);
            out.push(head);
            rest = tail;
        }
    }
    out.push(rest);
    out
}

/// The issued teleTAN, large and grouped, with a copy button and a countdown; a meta refresh clears it
/// after `display_secs` even without JavaScript. `event` names the authority of an event teleTAN.
pub fn teletan(
    t: &Text,
    officer: Officer<'_>,
    tan: &str,
    display_secs: u64,
    event: Option<&HealthAuthority>,
) -> String {
    let (title, read) = match event {
        Some(_) => (t.event_title, t.event_read_aloud),
        None => (t.teletan_title, t.teletan_read_aloud),
    };
    let issued_for = event.map_or_else(String::new, |a| {
        format!(
            r#"<p id="event-authority">{} {} ({})</p>"#,
            esc(t.event_for),
            esc(&a.name),
            esc(&a.nr)
        )
    });
    let spans: String = groups(tan)
        .iter()
        .map(|g| format!(r#"<span class="group">{}</span>"#, esc(g)))
        .collect::<Vec<_>>()
        .join(" ");
    let head = format!(r#"<meta http-equiv="refresh" content="{display_secs};url=/start">"#);
    let main = format!(
        r#"<h1>{title}</h1>
<section class="card" aria-labelledby="tan-h"><h2 id="tan-h" class="visually-hidden">{title}</h2>
{issued_for}<p class="teletan" id="teletan" data-value="{value}" data-cleared="{cleared}">{spans}</p>
<p>{read}</p>
<p><button type="button" id="copy-teletan" hidden data-done="{copied}" data-failed="{copy_failed}">{copy}</button>
<span id="copy-status" role="status" aria-live="polite"></span></p>
<p class="countdown">{shown_for} <span id="countdown" data-seconds="{display_secs}">{mmss}</span>.</p>
<p><a class="button-link" href="/start" id="back">{back}</a></p>
</section>"#,
        title = esc(title),
        value = esc(tan),
        cleared = esc(t.teletan_cleared),
        read = esc(read),
        copied = esc(t.copied),
        copy_failed = esc(t.copy_failed),
        copy = esc(t.copy),
        shown_for = esc(t.shown_for),
        mmss = format_args!("{}:{:02}", display_secs / 60, display_secs % 60),
        back = esc(t.back_to_start),
    );
    layout(t, title, Some(officer), &head, &main)
}

/// After a sign-in at the OpenID provider: on to the start page by a navigation that starts here, so
/// that the browser sends the `SameSite=Strict` session cookie (a meta refresh, and a link without it).
pub fn signed_in(t: &Text) -> String {
    let head = r#"<meta http-equiv="refresh" content="0;url=/start">"#;
    let main = format!(
        r#"<section class="card narrow" aria-labelledby="h"><h1 id="h">{title}</h1>
<p><a class="button-link" href="/start" id="continue">{cont}</a></p></section>"#,
        title = esc(t.signed_in_title),
        cont = esc(t.continue_),
    );
    layout(t, t.signed_in_title, None, head, &main)
}

/// An error page with a way back.
pub fn error(t: &Text, message: &str, officer: Option<Officer<'_>>) -> String {
    let back = if officer.is_some() {
        "/start"
    } else {
        "/login"
    };
    let main = format!(
        r#"<section class="card narrow" aria-labelledby="h"><h1 id="h">{title}</h1>{alert}
<p><a class="button-link" href="{back}">{back_t}</a></p></section>"#,
        title = esc(t.error_title),
        alert = alert(Some(message)),
        back_t = esc(t.back_to_start),
    );
    layout(t, t.error_title, officer, "", &main)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::EN;

    #[test]
    fn escaping_and_grouping() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(groups("ABCDEFGHJK"), vec!["ABC", "DEF", "GHJK"]);
        assert_eq!(groups("AB"), vec!["AB"]);
    }

    #[test]
    fn pages_carry_the_stable_hooks() {
        let login_page = login(&EN, "tok", Some("nope <b>"), "ann", None);
        assert!(
            login_page.contains(r#"name="username""#) && login_page.contains(r#"name="password""#)
        );
        assert!(login_page.contains("nope &lt;b&gt;"));
        assert!(!login_page.contains("/oidc/login"));
        let sso = login(&EN, "tok", None, "", Some("Keycloak <IAM>"));
        assert!(
            sso.contains(r#"href="/oidc/login""#)
                && sso.contains("Sign in with Keycloak &lt;IAM&gt;")
        );
        let o = Officer {
            username: "ann",
            roles: Role::Hotline.into(),
            csrf: "c",
        };
        let list = [HealthAuthority {
            name: "Gesundheitsamt <Mitte>".into(),
            nr: "1.01".into(),
        }];
        let hotline = start(&EN, o, None, 4, &list);
        assert!(
            hotline.contains(r#"id="issue-teletan""#) && !hotline.contains("issue-event-teletan")
        );
        let event = Officer {
            roles: Roles::from(Role::Event).with(Role::Hotline),
            ..o
        };
        let both = start(&EN, event, None, 4, &list);
        assert!(
            both.contains(r#"id="issue-teletan""#) && both.contains(r#"id="issue-event-teletan""#)
        );
        assert!(
            both.contains(r#"<option value="1.01">Gesundheitsamt &lt;Mitte&gt; (1.01)</option>"#)
        );
        let ha = Officer {
            roles: Role::HealthAuthority.into(),
            ..o
        };
        let none = start(&EN, ha, None, 4, &list);
        assert!(!none.contains("issue-teletan") && none.contains(r#"id="no-role""#));
        let page = teletan(&EN, event, "ABCDEFGHJK", 600, Some(&list[0]));
        assert!(page.contains(r#"id="event-authority""#) && page.contains(EN.event_title));
        let page = teletan(&EN, o, "ABCDEFGHJK", 600, None);
        assert!(page.contains(r#"id="teletan""#) && page.contains("10:00"));
        assert!(!page.contains("<script>") && !page.contains("style="));
    }
}
