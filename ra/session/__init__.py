"""Live sessions: asyncio drivers that run the sans-IO engine over the network.

`ra.session.person.ask_async` is the person's side (`ra ask`, an
`ra.session.person.Ask`), `ra.session.helper.Connect` the helper's
(`ra connect`); both run a `ra.session.driver.SessionDriver`, wired once to
the person's desktop or the helper's viewer through an `ra.session.inbox.Inbox`.
"""
