// GraphiQL for rectify, loaded as a file: the page's content security policy runs no inline script.
"use strict";

const fetcher = GraphiQL.createFetcher({ url: window.location.pathname });
const defaultQuery = `# rectify: a token goes in the Headers tab as {"Authorization": "Bearer rct_…"}
query Rounds {
  rounds { id teamName stationedFrom feedbackOn progress { total completed completionRate overdue } }
}
`;
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, { fetcher, defaultQuery, defaultEditorToolsVisibility: true })
);
