//! The fleet, the dashboard's landing page: every machine the daemon has
//! seen, with its state.

use axum::Router;
use axum::extract::{Query, State};
use maud::{Markup, html};

use super::AppState;
use super::error::UiResult;
use super::page::{self, Nav, NoticeQuery};
use super::session::Session;

/// The fleet's routes besides the page itself.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
}

/// `GET /ui/`.
pub(super) async fn page(
    State(app): State<AppState>,
    session: Session,
    Query(notice): Query<NoticeQuery>,
) -> UiResult<Markup> {
    let now = app.http.clock.now();
    let machines = app.http.store.machines().await?;
    let body = html! {
        h1 { "Fleet" }
        div.scroll {
            table #machines {
                thead { tr { th { "Machine" } th { "State" } th { "Type" } th.hide-phone { "Region" } th.hide-phone { "Seen" } } }
                tbody {
                    @for m in &machines {
                        tr data-machine-id=(m.machine.id) {
                            td { (m.machine.name) br; span.muted { (m.machine.id) } }
                            td { (page::state(m.machine.state.as_str())) }
                            td { (m.machine.machine_type.as_deref().unwrap_or("—")) }
                            td.hide-phone { (m.machine.region.as_deref().unwrap_or("—")) }
                            td.hide-phone { (page::when(m.seen_at, now)) }
                        }
                    }
                }
            }
        }
    };
    let notice = page::notice(&app.ui, &notice);
    Ok(page::shell(
        "Fleet",
        &session,
        Nav::Fleet,
        notice.as_deref(),
        body,
    ))
}
