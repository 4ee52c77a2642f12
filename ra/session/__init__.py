"""Live sessions: asyncio drivers that run the sans-IO engine over the network.

`ra.session.person.ask_async` is the person's side (`ra ask`),
`ra.session.helper.connect_async` the helper's (`ra connect`); both run a
`ra.session.driver.SessionDriver`.
"""
