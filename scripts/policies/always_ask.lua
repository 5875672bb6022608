-- Every recommendation waits for a person.
function decide(rec, ctx)
  return "ask", "policy always_ask: every change needs a person"
end
