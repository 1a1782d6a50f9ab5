//! The account's bottom menu (自定义菜单), declared in `faq/wechat_menu.toml` so an editor can
//! change it: at most 3 buttons of at most 5 items, WeChat's length limits checked, `click`
//! items that run a bot command and `view` items that open a web page. A `CLICK` event with a
//! declared key is answered like the command it names.

use std::path::Path;

use serde::Deserialize;

use crate::knowledge::KnowledgeError;

pub const MENU_FILE: &str = "wechat_menu.toml";

/// WeChat's limits: 3 top-level buttons, 5 items under each; names of at most 16 bytes at the
/// top and 60 below; keys of 128 bytes; links of 1,024.
const MAX_BUTTONS: usize = 3;
const MAX_ITEMS: usize = 5;
const MAX_TOP_NAME: usize = 16;
const MAX_SUB_NAME: usize = 60;
const MAX_KEY: usize = 128;
const MAX_URL: usize = 1024;

/// The validated menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu {
    pub buttons: Vec<MenuButton>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuButton {
    pub name: String,
    /// What the button does itself; `None` when it opens a list of items.
    pub action: Option<Action>,
    pub items: Vec<MenuItem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuItem {
    pub name: String,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A `click` item: WeChat sends its `key`; the bot runs `command` (`/tasks`, `/status 14`).
    Click { key: String, command: String },
    /// A `view` item: opens `url` in WeChat's browser.
    View { url: String },
    /// A `view` item on the bot's own public page: `path` under `PUBLIC_URL`, left out of the
    /// published menu when no `PUBLIC_URL` is set.
    Page { path: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMenu {
    #[serde(default)]
    button: Vec<RawButton>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawButton {
    name: Option<String>,
    key: Option<String>,
    command: Option<String>,
    url: Option<String>,
    page: Option<String>,
    #[serde(default)]
    item: Vec<RawItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    name: Option<String>,
    key: Option<String>,
    command: Option<String>,
    url: Option<String>,
    page: Option<String>,
}

impl Menu {
    /// `dir/wechat_menu.toml`, validated; `Ok(None)` when there is no such file.
    pub fn load(dir: &Path) -> Result<Option<Menu>, KnowledgeError> {
        let path = dir.join(MENU_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Menu::parse(&path, &text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(KnowledgeError {
                file: path,
                entry: None,
                field: None,
                message: format!("cannot read the file: {e}"),
            }),
        }
    }

    /// Parses and validates a menu file's text; errors name the file, button and field.
    pub fn parse(path: &Path, text: &str) -> Result<Menu, KnowledgeError> {
        let err = |entry: Option<String>, field: &str, message: String| KnowledgeError {
            file: path.to_path_buf(),
            entry,
            field: Some(field.to_string()),
            message,
        };
        let raw: RawMenu = toml::from_str(text).map_err(|e| KnowledgeError {
            file: path.to_path_buf(),
            entry: None,
            field: None,
            message: e.message().to_string(),
        })?;
        if raw.button.is_empty() || raw.button.len() > MAX_BUTTONS {
            return Err(err(
                None,
                "button",
                format!(
                    "a menu has 1 to {MAX_BUTTONS} buttons, not {}",
                    raw.button.len()
                ),
            ));
        }
        let mut keys = std::collections::HashSet::new();
        let mut buttons = Vec::new();
        for (b, rb) in raw.button.into_iter().enumerate() {
            let at = Some(format!("[[button]] #{}", b + 1));
            let name =
                checked_name(rb.name, MAX_TOP_NAME).map_err(|m| err(at.clone(), "name", m))?;
            let has_action =
                rb.key.is_some() || rb.command.is_some() || rb.url.is_some() || rb.page.is_some();
            let action = if has_action {
                if !rb.item.is_empty() {
                    return Err(err(
                        at,
                        "item",
                        "a button either does something (key and command, or url) or opens items, not both".into(),
                    ));
                }
                Some(
                    checked_action(rb.key, rb.command, rb.url, rb.page, &mut keys)
                        .map_err(|(f, m)| err(at.clone(), f, m))?,
                )
            } else {
                None
            };
            if action.is_none() && (rb.item.is_empty() || rb.item.len() > MAX_ITEMS) {
                return Err(err(
                    at,
                    "item",
                    format!(
                        "a button without an action opens 1 to {MAX_ITEMS} items, not {}",
                        rb.item.len()
                    ),
                ));
            }
            let mut items = Vec::new();
            for (i, ri) in rb.item.into_iter().enumerate() {
                let at = Some(format!("[[button]] #{} item #{}", b + 1, i + 1));
                items.push(MenuItem {
                    name: checked_name(ri.name, MAX_SUB_NAME)
                        .map_err(|m| err(at.clone(), "name", m))?,
                    action: checked_action(ri.key, ri.command, ri.url, ri.page, &mut keys)
                        .map_err(|(f, m)| err(at.clone(), f, m))?,
                });
            }
            buttons.push(MenuButton {
                name,
                action,
                items,
            });
        }
        Ok(Menu { buttons })
    }

    /// The command a `CLICK` event's key names, if the menu declares it.
    pub fn command_for(&self, key: &str) -> Option<&str> {
        self.buttons
            .iter()
            .flat_map(|b| b.action.iter().chain(b.items.iter().map(|i| &i.action)))
            .find_map(|a| match a {
                Action::Click { key: k, command } if k == key => Some(command.as_str()),
                Action::Click { .. } | Action::View { .. } | Action::Page { .. } => None,
            })
    }

    /// How many items (buttons with an action, and sub-items) the menu has.
    pub fn len(&self) -> usize {
        self.buttons
            .iter()
            .map(|b| usize::from(b.action.is_some()) + b.items.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn checked_name(name: Option<String>, max: usize) -> Result<String, String> {
    let name = name.map(|n| n.trim().to_string()).unwrap_or_default();
    if name.is_empty() {
        return Err("missing: the text on the button".into());
    }
    if name.len() > max {
        return Err(format!(
            "`{name}` is {} bytes; WeChat allows {max} here (Chinese characters take 3)",
            name.len()
        ));
    }
    Ok(name)
}

fn checked_action(
    key: Option<String>,
    command: Option<String>,
    url: Option<String>,
    page: Option<String>,
    keys: &mut std::collections::HashSet<String>,
) -> Result<Action, (&'static str, String)> {
    if let Some(path) = page {
        if key.is_some() || command.is_some() || url.is_some() {
            return Err(("page", "a page item has only a page".into()));
        }
        let path = path.trim().to_string();
        if !path.starts_with('/') || path.len() > 200 || path.contains("//") {
            return Err(("page", format!("`{path}` is not a path such as /tasks/14")));
        }
        return Ok(Action::Page { path });
    }
    match (key, command, url) {
        (Some(key), Some(command), None) => {
            let key = key.trim().to_string();
            if key.is_empty() || key.len() > MAX_KEY || !key.is_ascii() {
                return Err(("key", format!("a key is 1 to {MAX_KEY} ASCII bytes")));
            }
            if !keys.insert(key.clone()) {
                return Err(("key", format!("duplicate key `{key}`")));
            }
            let command = command.trim().to_string();
            if !command.starts_with('/') {
                return Err((
                    "command",
                    format!("`{command}` is not a bot command such as /tasks"),
                ));
            }
            Ok(Action::Click { key, command })
        }
        (None, None, Some(url)) => {
            let url = url.trim().to_string();
            if !url.starts_with("https://") || url.len() > MAX_URL {
                return Err((
                    "url",
                    format!("a link is https://… of at most {MAX_URL} bytes"),
                ));
            }
            Ok(Action::View { url })
        }
        (None, None, None) => Err(("command", "missing: key and command, or url".into())),
        _ => Err((
            "url",
            "an item has key and command (click) or url (view), not both".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Menu, KnowledgeError> {
        Menu::parse(Path::new("faq/wechat_menu.toml"), text)
    }

    #[test]
    fn the_real_menu_loads() {
        let menu = Menu::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("faq").as_path())
            .expect("valid")
            .expect("present");
        assert!(menu.command_for("TASKS").is_some());
        assert!(!menu.is_empty());
    }

    #[test]
    fn mistakes_name_the_button_and_field() {
        let ok = "[[button]]\nname = \"进度\"\nkey = \"TASKS\"\ncommand = \"/tasks\"\n";
        assert_eq!(parse(ok).expect("ok").command_for("TASKS"), Some("/tasks"));
        for (text, entry, field) in [
            (
                "[[button]]\nname = \"民生实事进度查询\"\nkey = \"T\"\ncommand = \"/tasks\"\n",
                "[[button]] #1",
                "name",
            ),
            (
                "[[button]]\nname = \"进度\"\nkey = \"T\"\ncommand = \"tasks\"\n",
                "[[button]] #1",
                "command",
            ),
            (
                "[[button]]\nname = \"进度\"\nurl = \"http://x\"\n",
                "[[button]] #1",
                "url",
            ),
            ("[[button]]\nname = \"进度\"\n", "[[button]] #1", "item"),
            (
                "[[button]]\nname = \"进度\"\n[[button.item]]\nname = \"a\"\nkey = \"K\"\ncommand = \"/tasks\"\n[[button.item]]\nname = \"b\"\nkey = \"K\"\ncommand = \"/help\"\n",
                "[[button]] #1 item #2",
                "key",
            ),
        ] {
            let e = parse(text).expect_err(text);
            assert_eq!(e.entry.as_deref(), Some(entry), "{e}");
            assert_eq!(e.field.as_deref(), Some(field), "{e}");
        }
        let four = ok.repeat(4).replace("TASKS", "X");
        assert_eq!(
            parse(&four).expect_err("4").field.as_deref(),
            Some("button")
        );
    }
}
